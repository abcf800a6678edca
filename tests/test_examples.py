"""Every script in examples/ runs, exits 0, and its table shows agreement.

The scripts are found by globbing ``examples/[0-9]*.py``, so a new example is tested as soon as
it exists. A script whose source mentions ``--fast`` is run with it (the training examples).
Each script prints rows ``| step | value | brute force | max diff | tol | verdict |``
(``examples/_check.py``); every row must say ``ok`` and, where ``max diff`` is a number, it must
not exceed ``tol``. The scripts run as a user runs them, ``python examples/NAME.py`` from the
repository root, with nothing added to ``PYTHONPATH``.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Dict, List

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = sorted((ROOT / "examples").glob("[0-9]*.py"))
COLUMNS = ("step", "value", "reference", "diff", "tol", "verdict")


def table_rows(output: str) -> List[Dict[str, str]]:
    """The check rows of an example's output (header, rule and other lines are skipped)."""
    rows = []
    for line in output.splitlines():
        if not line.startswith("|"):
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == len(COLUMNS) and cells[-1] in ("ok", "FAIL"):
            rows.append(dict(zip(COLUMNS, cells)))
    return rows


def disagreements(rows: List[Dict[str, str]]) -> List[str]:
    bad = []
    for row in rows:
        if row["verdict"] != "ok":
            bad.append(f"{row['step']}: verdict {row['verdict']}")
        if row["diff"] != "-" or row["tol"] != "-":
            diff, tol = float(row["diff"]), float(row["tol"])
            if not diff <= tol:
                bad.append(f"{row['step']}: max diff {diff:g} > tol {tol:g}")
    return bad


def run(script: Path, *args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    return subprocess.run([sys.executable, os.path.relpath(script, cwd), *args],
                          cwd=cwd, env=env, capture_output=True, text=True, timeout=600)


def test_the_examples_of_the_teaching_issue_exist():
    names = {p.name for p in EXAMPLES}
    for name in ("01_dense_by_hand.py", "02_circulant_by_hand.py", "03_softmax_cross_entropy.py",
                 "04_gradcheck_your_layer.py", "05_sign_flip.py", "06_train_mnist_api.py",
                 "08_convolution_by_hand.py"):
        assert name in names


@pytest.mark.parametrize("script", EXAMPLES, ids=lambda p: p.name)
def test_example_runs_and_its_table_agrees(script):
    source = script.read_text(encoding="utf-8")
    args = ["--fast"] if "--fast" in source else []
    assert f"python examples/{script.name}" in source, f"{script.name}: its docstring should say how to run it"
    proc = run(script, *args)
    assert proc.returncode == 0, (f"{script.name} {' '.join(args)} exited {proc.returncode}\n"
                                  f"{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    rows = table_rows(proc.stdout)
    assert rows, f"{script.name} printed no table rows:\n{proc.stdout[-2000:]}"
    assert disagreements(rows) == []
    assert f"all {len(rows)} checks agree" in proc.stdout
    # exact identities must really be exact: a tolerance looser than 1e-6 needs a measured reason
    for row in rows:
        if row["tol"] != "-" and float(row["tol"]) > 1e-6:
            assert "float32" in row["step"], f"{script.name}: {row['step']} has tol {row['tol']}"


def test_an_example_runs_from_another_directory(tmp_path):
    proc = run(ROOT / "examples" / "01_dense_by_hand.py", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr


def test_a_failing_check_fails_the_script_and_the_parser(tmp_path):
    """The harness can fail: a wrong value gives exit 1, a FAIL row and a disagreement."""
    script = tmp_path / "99_wrong.py"
    script.write_text(
        "import sys\n"
        f"sys.path.insert(0, {str(ROOT / 'examples')!r})\n"
        "from _check import Checks\n"
        "c = Checks('planted disagreement')\n"
        "c.exact('one equals one', 1.0, 1.0)\n"
        "c.exact('two equals three', 2.0, 3.0)\n"
        "c.close('near but not near enough', [1.0, 2.0], [1.0, 2.001])\n"
        "c.done()\n")
    proc = run(script, cwd=tmp_path)
    assert proc.returncode == 1
    rows = table_rows(proc.stdout)
    assert [r["verdict"] for r in rows] == ["ok", "FAIL", "FAIL"]
    assert len(disagreements(rows)) == 4          # two verdicts, two diffs above tol
    assert "2 of 3 checks FAILED" in proc.stdout
    # a row that says ok but whose numbers disagree is caught from the numbers alone
    forged = "| forged | 1 | 2 | 1.0e+00 | 1e-10 | ok |"
    assert disagreements(table_rows(forged)) == ["forged: max diff 1 > tol 1e-10"]
