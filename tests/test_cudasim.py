"""Runs tests/cudasim under Numba's CUDA simulator, in a process of its own.

The simulator is chosen when Numba is first imported, and this process has imported it the
normal way, so the kernel tests run in a subprocess with ``NUMBA_ENABLE_CUDASIM=1``. A suite
that ran nothing, or skipped anything, fails here: a green run must have exercised the kernels.
"""
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def summary_counts(output: str) -> dict:
    """``{'passed': 12, 'skipped': 1, ...}`` from pytest's closing line."""
    lines = [ln for ln in output.strip().splitlines() if re.search(r"\d+ (passed|failed|error|skipped)|no tests ran", ln)]
    if not lines:
        return {}
    return {word.rstrip("s"): int(num) for num, word in re.findall(r"(\d+) (\w+)", lines[-1])}


@pytest.mark.cudasim
def test_kernels_under_the_cuda_simulator():
    env = dict(os.environ, NUMBA_ENABLE_CUDASIM="1", PYTHONUNBUFFERED="1")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "tests/cudasim", "-q", "-p", "no:cacheprovider", "-o", "addopts="],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=1200)
    out = proc.stdout + proc.stderr
    counts = summary_counts(out)
    tail = out[-6000:]
    assert proc.returncode == 0, f"simulator suite exited {proc.returncode}:\n{tail}"
    assert counts.get("passed", 0) > 0, f"simulator suite passed no test:\n{tail}"
    bad = {k: v for k, v in counts.items() if k not in ("passed", "warning") and v}
    assert not bad, f"simulator suite reported {bad}; every test must run and pass:\n{tail}"


def test_summary_counts_reads_pytest_closing_lines():
    assert summary_counts("..\n67 passed in 3.1s\n") == {"passed": 67}
    assert summary_counts("x\n2 failed, 5 passed, 1 skipped, 3 warnings in 1s") == \
        {"failed": 2, "passed": 5, "skipped": 1, "warning": 3}
    assert summary_counts("1 passed, 1 error in 2s") == {"passed": 1, "error": 1}
    assert summary_counts("no tests ran in 0.01s") == {}
