"""Kill -9 and Ctrl-C at any moment, through the command as a user meets it: one line, exit
status 130 (or 0, when the run had finished), never a traceback, and every file left complete.

A kill or a signal inside a write is made deterministic by ``files.PAUSE_VARIABLE``: it holds
the write of a named file, once its temporary is complete and before the rename, for some
seconds; the test polls for that temporary and strikes then.
"""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from minicirc.mnist import write_idx
from minicirc.mnist.checkpoint import read_checkpoint
from minicirc.mnist.files import PAUSE_VARIABLE

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
ENV.pop(PAUSE_VARIABLE, None)


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """200 training and 50 test images of noise: a run of a few steps an epoch."""
    folder = tmp_path_factory.mktemp("idx")
    rng = np.random.default_rng(0)
    for stem, n in (("train", 200), ("t10k", 50)):
        write_idx(folder / f"{stem}-images-idx3-ubyte", rng.integers(0, 255, (n, 28, 28), dtype=np.uint8))
        write_idx(folder / f"{stem}-labels-idx1-ubyte", rng.integers(0, 10, n, dtype=np.uint8))
    return str(folder)


def start(data, out, *args, pause=None):
    env = {**ENV, PAUSE_VARIABLE: pause} if pause else ENV
    return subprocess.Popen([sys.executable, "-m", "minicirc", "train", "--data", data, "--no-verify",
                             "--hidden", "32", "--batch-size", "50", "--out", str(out), *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def wait_for(proc, folder, pattern, timeout=120):
    """The first file matching ``pattern`` in ``folder``, polled while ``proc`` runs."""
    deadline = time.time() + timeout
    while time.time() < deadline and proc.poll() is None:
        found = sorted(Path(folder).glob(pattern))
        if found:
            return found[0]
        time.sleep(0.01)
    proc.kill()
    out, err = proc.communicate()
    pytest.fail(f"no {pattern} appeared in {folder} (exit {proc.returncode}):\n{err}")


def assert_complete(folder):
    """Every file in ``folder`` whole: checkpoints load, JSON parses, PNGs end with IEND."""
    for p in Path(folder).iterdir():
        if p.suffix == ".npz":
            read_checkpoint(p)
        elif p.suffix == ".json":
            json.loads(p.read_text())
        elif p.suffix == ".png":
            assert p.read_bytes().endswith(b"IEND\xaeB`\x82"), p


def test_kill_9_during_a_snapshot_leaves_no_truncated_file(tmp_path, data):
    out = tmp_path / "run"
    proc = start(data, out, "--epochs", "2", "--save-every", "1", "--no-plot", pause="epoch-001.npz:60")
    tmp = wait_for(proc, out, ".epoch-001.npz.*.tmp")
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    assert not (out / "epoch-001.npz").exists()          # absent, not truncated
    assert tmp.exists()                                  # what a kill leaves: hidden, and stale
    assert_complete(out)
    proc = start(data, out, "--epochs", "1", "--no-plot")   # the next run in that folder
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    assert not tmp.exists() and not list(out.glob(".*.tmp"))
    assert_complete(out)


def test_a_live_runs_temporary_is_left_alone(tmp_path):
    from minicirc.mnist.files import remove_stale_temporaries

    live = tmp_path / f".checkpoint.npz.{os.getpid()}.{'a' * 32}.tmp"
    dead_pid = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                              text=True).stdout.strip()
    dead = tmp_path / f".checkpoint.npz.{dead_pid}.{'b' * 32}.tmp"
    mine = tmp_path / ".notes.tmp"                          # not of the writer's form: not ours
    for p in (live, dead, mine):
        p.write_bytes(b"x")
    assert remove_stale_temporaries(tmp_path) == [dead]
    assert live.exists() and mine.exists() and not dead.exists()


def test_a_second_ctrl_c_during_the_checkpoint_write_keeps_it_whole(tmp_path, data):
    out = tmp_path / "run"
    proc = start(data, out, "--epochs", "3", "--no-plot", pause="checkpoint.npz:3")
    wait_for(proc, out, ".checkpoint.npz.*.tmp")
    proc.send_signal(signal.SIGINT)
    time.sleep(0.3)                                      # two signals, not one coalesced
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "Traceback" not in err and len(err.splitlines()) == 1, err
    assert "interrupted at the end of epoch 1" in err
    meta, _ = read_checkpoint(out / "checkpoint.npz")
    assert meta["epoch"] == 1
    assert not list(out.glob(".*.tmp"))


#: The ``minicirc`` console script as pip writes it, saying "up" once its one import is done:
#: before that, a Ctrl-C falls in CPython's own start or in the import of the package (which
#: loads nothing heavy), where no line of minicirc can catch it. The delay counts from "up",
#: plus 20 ms: the launcher's own print and call into ``command`` (microseconds) come first.
LAUNCHER = ("import sys; from minicirc.__main__ import command; print('up', flush=True); "
            "sys.exit(command())")


@settings(max_examples=15, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(delay=st.floats(0.02, 2.5))
def test_ctrl_c_at_any_moment_is_one_line_and_leaves_whole_files(tmp_path_factory, data, delay):
    out = tmp_path_factory.mktemp("run")
    proc = subprocess.Popen([sys.executable, "-c", LAUNCHER, "train", "--data", data, "--no-verify", "--hidden", "32",
                             "--batch-size", "50", "--out", str(out), "--epochs", "2", "--save-every", "1"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV)
    assert proc.stdout.readline() == "up\n"
    time.sleep(delay)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode in (0, 130), err
    assert "Traceback" not in err, err
    assert len(err.splitlines()) == (proc.returncode == 130), err
    assert not list(out.glob(".*.tmp"))
    assert_complete(out)


#: A Ctrl-C that cuts a C extension's import as NumPy's ``import_array()`` does in SciPy's and
#: Numba's modules: the extension prints the KeyboardInterrupt with ``PyErr_Print`` and raises
#: an ImportError. Played here by a finder for ``minicirc.mnist.cli`` that does the same through
#: ctypes (``PyRun_SimpleString`` prints its exception with ``PyErr_Print``), so the moment is
#: not left to chance.
CUT_IMPORT = """
import ctypes, importlib.util, os, signal, sys
from minicirc.__main__ import command

class CutImport:
    def find_spec(self, name, path=None, target=None):
        return importlib.util.spec_from_loader(name, self) if name == "minicirc.mnist.cli" else None
    def create_module(self, spec):
        return None
    def exec_module(self, module):
        try:
            os.kill(os.getpid(), signal.SIGINT)
            for _ in range(10**7):
                pass
        except KeyboardInterrupt:
            ctypes.pythonapi.PyRun_SimpleString(b"raise KeyboardInterrupt")   # C code's PyErr_Print
            raise ImportError("numpy.core.multiarray failed to import")
        raise AssertionError("no Ctrl-C arrived")

sys.meta_path.insert(0, CutImport())
sys.exit(command())
"""


def test_a_ctrl_c_that_an_extension_prints_while_importing_is_still_one_line():
    proc = subprocess.run([sys.executable, "-c", CUT_IMPORT], capture_output=True, text=True, env=ENV, timeout=120)
    assert proc.returncode == 130, proc.stderr
    assert proc.stderr == "minicirc: interrupted\n", proc.stderr
