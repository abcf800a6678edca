"""Every example opens as a notebook and runs top to bottom in a Jupyter kernel.

The examples are written once, as scripts in jupytext's percent format (``# %%`` code cells,
``# %% [markdown]`` prose). This converts each with jupytext, as a reader's
``jupytext --to notebook examples/NAME.py`` does, and executes the notebook with nbclient in a
``python3`` kernel started from the examples folder, as Jupyter does when the file is opened
there. A cell that raises fails the test, and so does a table row that disagrees (the same
parser as tests/test_examples.py). A notebook has no command line: the scripts that take
``--fast`` read ``MINICIRC_EXAMPLES_FAST=1`` from the environment, which the kernel inherits.

A last cell, appended here, reports the kernel's interpreter and the ``minicirc`` it imported,
so that the test cannot pass by running another Python or another copy of the package.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

import jupytext
import nbformat
import pytest
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

from test_examples import EXAMPLES, disagreements, table_rows

ROOT = Path(__file__).resolve().parent.parent
WHERE = "import sys, minicirc\nprint('KERNEL', sys.executable)\nprint('MINICIRC', minicirc.__file__)\n"


def stdout_of(nb: nbformat.NotebookNode) -> str:
    return "".join(out.get("text", "") for cell in nb.cells if cell.cell_type == "code"
                   for out in cell.get("outputs", []) if out.get("output_type") == "stream")


def execute(nb: nbformat.NotebookNode, fast: bool) -> nbformat.NotebookNode:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    if fast:
        env["MINICIRC_EXAMPLES_FAST"] = "1"
    client = NotebookClient(nb, timeout=600, kernel_name="python3",
                            resources={"metadata": {"path": str(ROOT / "examples")}})
    client.execute(env=env)
    return nb


@pytest.mark.parametrize("script", EXAMPLES, ids=lambda p: p.name)
def test_example_runs_as_a_notebook(script):
    nb = jupytext.read(script, fmt="py:percent")
    kinds = [cell.cell_type for cell in nb.cells]
    assert kinds.count("code") >= 3 and "markdown" in kinds, \
        f"{script.name}: expected '# %%' code cells and '# %% [markdown]' prose, got {kinds}"
    nb.cells.append(nbformat.v4.new_code_cell(WHERE))
    try:
        execute(nb, fast="--fast" in script.read_text(encoding="utf-8"))
    except CellExecutionError as e:
        pytest.fail(f"{script.name} as a notebook: a cell failed\n{str(e)[-3000:]}")
    out = stdout_of(nb)
    rows = table_rows(out)
    assert rows, f"{script.name} as a notebook printed no table rows:\n{out[-2000:]}"
    assert disagreements(rows) == []
    assert f"all {len(rows)} checks agree" in out
    kernel = next(l.split(" ", 1)[1] for l in out.splitlines() if l.startswith("KERNEL "))
    package = next(l.split(" ", 1)[1] for l in out.splitlines() if l.startswith("MINICIRC "))
    assert Path(kernel).resolve() == Path(sys.executable).resolve(), \
        f"the kernel ran {kernel}, not this test's {sys.executable}"
    assert Path(package).resolve() == (ROOT / "minicirc" / "__init__.py").resolve(), \
        f"the notebook imported {package}, not this checkout's minicirc"


def test_a_failing_cell_fails_the_notebook():
    """The harness can fail: a cell that raises stops the run with the cell's error."""
    nb = jupytext.reads("# %%\nx = 1\n\n# %% [markdown]\n# prose\n\n# %%\nraise ValueError('planted')\n",
                        fmt="py:percent")
    with pytest.raises(CellExecutionError, match="planted"):
        execute(nb, fast=False)
