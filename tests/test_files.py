"""Every file minicirc writes is complete or absent: each writer goes through files.write_atomic,
so a failure at the last moment (here: the flush to disk, as on a full disk) leaves the previous
file as it was, no temporary behind, and an error that names the file."""
import os

import pytest

from minicirc.mnist import files


def fail_at_fsync(monkeypatch):
    """From now on, every flush to disk fails as on a full disk."""
    def full(fd):
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(files.os, "fsync", full)


def history():
    return [{"epoch": 1, "train_loss": 1.0, "train_error": 0.5, "test_error": 0.4}]


def write_results(path):
    """A trainer with nothing trained yet: finish() writes results.json."""
    import numpy as np

    from minicirc.mnist import write_idx
    from minicirc.mnist.train import TrainConfig, Trainer

    data = path.parent / "data"
    data.mkdir()
    rng = np.random.default_rng(0)
    for stem, n in (("train", 20), ("t10k", 10)):
        write_idx(data / f"{stem}-images-idx3-ubyte", rng.integers(0, 255, (n, 28, 28), dtype=np.uint8))
        write_idx(data / f"{stem}-labels-idx1-ubyte", rng.integers(0, 10, n, dtype=np.uint8))
    config = TrainConfig(hidden=8, epochs=1, data=str(data), verify=False, out=str(path.parent), plot=False)
    Trainer(config, log=lambda *a: None, progress=False).finish()


def write_curves(path):
    from minicirc.mnist.plots import plot_curves

    plot_curves(history(), path)


def write_document(path):
    from minicirc.mnist.reproduce import write_markdown

    write_markdown([], path, "minicirc reproduce", None, 1.0)


def write_copy(path):
    source = path.parent / "source"
    source.write_bytes(b"new contents")
    files.copy(source, path)


def write_checkpoint(path):
    import minicirc as mc
    from minicirc.mnist.checkpoint import save_checkpoint

    save_checkpoint(path, mc.Sequential(mc.Dense(3, 2, rng=0)), {"epoch": 1})


@pytest.mark.parametrize("name, write", [("results.json", write_results), ("curves.png", write_curves),
                                         ("mnist.md", write_document), ("epoch-001.npz", write_copy),
                                         ("checkpoint.npz", write_checkpoint)])
def test_a_failed_write_keeps_the_previous_file_and_leaves_no_temporary(tmp_path, monkeypatch, name, write):
    path = tmp_path / name
    path.write_bytes(b"the previous, complete file")
    fail_at_fsync(monkeypatch)
    with pytest.raises(OSError, match=f"cannot write .*{name}: No space left on device"):
        write(path)
    assert path.read_bytes() == b"the previous, complete file"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_the_written_file_has_the_umasks_mode(tmp_path):
    old = os.umask(0o027)
    try:
        files.write_text(tmp_path / "a.txt", "x")
        (tmp_path / "b.txt").write_text("x")
    finally:
        os.umask(old)
    assert os.stat(tmp_path / "a.txt").st_mode == os.stat(tmp_path / "b.txt").st_mode
