"""The command line, through a subprocess, as a user meets it."""
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from minicirc.mnist import write_idx


ROOT = Path(__file__).resolve().parents[1]
#: This checkout's minicirc, whatever the working directory or an installed copy.
ENV = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}


def run(*args, timeout=300):
    return subprocess.run([sys.executable, "-m", "minicirc", *args], capture_output=True, text=True,
                          timeout=timeout, env=ENV)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    p = run("train", "--epochs", "1", "--train-limit", "2000", "--hidden", "128", "--out", str(out))
    assert p.returncode == 0, p.stderr
    return out, p


def test_train_prints_epoch_line_and_test_error(trained):
    out, p = trained
    assert "epoch  1/1" in p.stdout and "samples/s" in p.stdout
    assert "test error" in p.stdout.splitlines()[-1]
    assert {"checkpoint.npz", "results.json", "curves.png"} <= {f.name for f in out.iterdir()}
    assert "\r" not in p.stderr        # no progress bar when not on a terminal


def test_evaluate_and_info(trained):
    out, _ = trained
    p = run("evaluate", str(out / "checkpoint.npz"))
    assert p.returncode == 0, p.stderr
    assert "test error" in p.stdout and "confusion matrix" in p.stdout
    rows = [line.split() for line in p.stdout.splitlines()[-10:]]
    counts = np.array([[int(v) for v in r[1:]] for r in rows])
    assert counts.shape == (10, 10)
    assert counts.sum(axis=1).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    # one line per ReLU of the MLP (after each of its two circulant layers), 128 units each
    dead = [line for line in p.stdout.splitlines() if line.startswith("  layer ")]
    assert len(dead) == 2 and all(" of 128" in line and "(after Circulant(" in line for line in dead)
    p = run("info", str(out / "checkpoint.npz"))
    assert p.returncode == 0, p.stderr
    assert "Circulant(784, 128)" in p.stdout and "compression" in p.stdout


@pytest.mark.parametrize("args,message", [
    (["train", "--lr", "-1"], "expected a positive number"),
    (["train", "--model", "lenet"], "invalid choice: 'lenet'"),
    (["train", "--epochs", "0"], "expected a positive integer"),
    (["train", "--backend", "tpu"], "invalid choice: 'tpu'"),
    (["train", "--model", "block"], "--model block needs --block"),
    (["train", "--dropout", "1.5"], "expected a number in [0, 1)"),
    (["frobnicate"], "invalid choice"),
    (["train", "--momentum", "0.5"], "--momentum applies to SGD only, and this run uses adamw (the circulant "
                                     "recipe's optimizer); add --optimizer sgd"),
    (["train", "--model", "dense", "--optimizer", "adam", "--no-nesterov"],
     "--no-nesterov applies to SGD only, and this run uses adam (--optimizer adam)"),
    (["train", "--validation", "60000", "--epochs", "1"], "validation=60000 must leave"),
    (["train", "--validation", "nan"], "expected a count or a fraction in (0, 1), got nan"),
    (["evaluate", "x.npz", "--backend", "tpu"], "invalid choice: 'tpu'"),
])
def test_bad_options_exit_2(args, message):
    p = run(*args)
    assert p.returncode == 2 and message in p.stderr and "usage:" in p.stderr


@pytest.mark.parametrize("command", ["reproduce"])
def test_passthrough_subcommands_name_themselves(command):
    """Their options belong to another module; usage and errors still say what the user typed."""
    p = run(command, "--no-such-option")
    assert p.returncode == 2 and p.stderr.startswith(f"usage: minicirc {command} ")
    assert f"minicirc {command}: error: unrecognized arguments: --no-such-option" in p.stderr


def test_corrupt_checkpoint_and_missing_data(tmp_path):
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"PK\x03\x04 not really a zip")
    p = run("evaluate", str(bad))
    assert p.returncode == 1 and "bad.npz" in p.stderr and "Traceback" not in p.stderr
    p = run("train", "--data", str(tmp_path / "nowhere"), "--epochs", "1")
    assert p.returncode == 1 and "nowhere" in p.stderr and "Traceback" not in p.stderr


def test_truncated_data_file_is_named(tmp_path):
    rng = np.random.default_rng(0)
    for stem, n in (("train", 50), ("t10k", 20)):
        write_idx(tmp_path / f"{stem}-images-idx3-ubyte", rng.integers(0, 255, (n, 28, 28), dtype=np.uint8))
        write_idx(tmp_path / f"{stem}-labels-idx1-ubyte", rng.integers(0, 10, n, dtype=np.uint8))
    path = tmp_path / "t10k-images-idx3-ubyte"
    path.write_bytes(path.read_bytes()[:-100])
    p = run("train", "--data", str(tmp_path), "--epochs", "1")
    assert p.returncode == 1 and "SHA-256" in p.stderr            # not the real MNIST: refused
    p = run("train", "--data", str(tmp_path), "--epochs", "1", "--no-verify")
    assert p.returncode == 1 and "t10k-images-idx3-ubyte" in p.stderr and "Traceback" not in p.stderr


def test_ctrl_c_saves_a_checkpoint_and_exits_cleanly(tmp_path):
    proc = subprocess.Popen([sys.executable, "-u", "-m", "minicirc", "train", "--epochs", "50", "--hidden", "128",
                             "--train-limit", "5000", "--out", str(tmp_path), "--no-plot"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV)
    deadline = time.time() + 120
    line = ""
    while "epoch  1/50" not in line and time.time() < deadline:     # wait for a checkpoint to exist
        line = proc.stdout.readline()
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    # in an epoch, or at its end when the signal came in its last step or during its checkpoint
    assert "interrupted " in err and "--resume" in err and "Traceback" not in err
    p = run("info", str(tmp_path / "checkpoint.npz"))
    assert p.returncode == 0, p.stderr


def test_a_reader_that_leaves_early_is_not_an_error(trained):
    """``minicirc info CKPT | head -2``: the pipe closes; no 'Broken pipe' message, no traceback."""
    out, _ = trained
    p = subprocess.Popen([sys.executable, "-m", "minicirc", "info", str(out / "checkpoint.npz")],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=ENV)
    p.stdout.close()                                   # the reader is gone before the first line
    err = p.stderr.read().decode()
    p.wait(timeout=120)
    p.stderr.close()
    assert p.returncode == 141 and err == "", err


def test_a_diverging_run_stops_with_its_own_message_only(tmp_path):
    """Exit 3 and the stop message; not NumPy's overflow warning from inside a layer first."""
    p = run("train", "--lr", "1e8", "--optimizer", "sgd", "--epochs", "1", "--train-limit", "1000",
            "--hidden", "64", "--no-plot", "--out", str(tmp_path))
    assert p.returncode == 3 and "non-finite loss" in p.stderr, p.stderr
    assert "Warning" not in p.stderr and "Traceback" not in p.stderr, p.stderr
    assert "1 epoch," in p.stdout


def test_evaluate_names_one_epoch_in_the_singular(trained):
    out, _ = trained
    p = run("evaluate", str(out / "checkpoint.npz"))
    assert "MLP after 1 epoch\n" in p.stdout


def test_output_folder_that_cannot_be_made_is_a_usage_error(tmp_path):
    (tmp_path / "afile").write_text("")
    p = run("train", "--out", str(tmp_path / "afile" / "sub"), "--epochs", "1")
    assert p.returncode == 2 and "afile/sub: cannot create it" in p.stderr and "Traceback" not in p.stderr


def test_resume_takes_the_checkpoints_settings_and_folder(tmp_path):
    first = run("train", "--epochs", "1", "--schedule", "constant", "--train-limit", "1000", "--hidden", "64",
                "--no-plot", "--out", str(tmp_path))
    assert first.returncode == 0, first.stderr
    ckpt = str(tmp_path / "checkpoint.npz")
    p = run("train", "--resume", ckpt, "--lr", "0.5")              # another run's setting: refused
    assert p.returncode == 1 and "lr=0.005 (this run: 0.5)" in p.stderr and "Traceback" not in p.stderr
    # no model options: the checkpoint's (hidden 64, not the default 1024), in its folder; with a
    # constant learning rate the run may be given more epochs
    p = run("train", "--resume", ckpt, "--epochs", "2")
    assert p.returncode == 0, p.stderr
    assert "resumed from" in p.stdout and "epoch  2/2" in p.stdout
    # epochs counted alike everywhere: completed ones, with the one in progress named as such
    assert "1 epoch complete, step 8; continuing in epoch 2" in p.stdout
    assert "after 2 epochs" in p.stdout
    p = run("train", "--resume", ckpt)                            # a finished run: says so
    assert p.returncode == 0, p.stderr
    assert "all of its epochs are done" in p.stdout and "nothing to train" in p.stdout
    p = run("info", ckpt)
    assert "2 epochs complete" in p.stdout
    import json

    results = json.loads((tmp_path / "results.json").read_text())
    assert [e["epoch"] for e in results["epochs"]] == [1, 2] and results["config"]["hidden"] == 64
