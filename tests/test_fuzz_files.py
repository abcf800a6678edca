"""Damaged files, at random: the readers answer with their own error, never another exception.

The enumerated cases (tests/test_datasets.py, tests/test_checkpoint.py) check each message;
here hypothesis cuts, flips and splices bytes of a good IDX file (raw and gzip) and of a good
checkpoint, and each read must either succeed or raise DataError / CheckpointError, which the
command line turns into one line naming the file. An IndexError or a zlib.error escaping from
inside would be a traceback for the user.
"""
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import minicirc as mc
from minicirc.mnist.checkpoint import CheckpointError, read_checkpoint, save_checkpoint
from minicirc.mnist import DataError, read_idx, write_idx

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def idx_file(tmp_path_factory, dtype, compress):
    folder = tmp_path_factory.mktemp("idx")
    path = folder / ("x.idx.gz" if compress else "x.idx")
    write_idx(path, (np.arange(3 * 5 * 2) % 251).astype(dtype).reshape(3, 5, 2))
    return path.read_bytes()


@st.composite
def damage(draw, good: bytes):
    """Truncate, flip a few bytes, and/or splice random bytes in, somewhere in ``good``."""
    data = bytearray(good)
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(["cut", "flip", "splice"]))
        if kind == "cut" and data:
            del data[draw(st.integers(0, len(data) - 1)):]
        elif kind == "flip" and data:
            i = draw(st.integers(0, len(data) - 1))
            data[i] ^= draw(st.integers(1, 255))
        else:
            i = draw(st.integers(0, len(data)))
            data[i:i] = draw(st.binary(min_size=1, max_size=8))
    return bytes(data)


def read_or_named_error(path, data, read, error):
    """Write ``data`` to ``path`` and read it: the result, or None after ``error`` naming the file.
    Any other exception propagates and fails the test."""
    path.write_bytes(data)
    try:
        return read(path)
    except error as e:
        assert path.name in str(e)
        return None


@pytest.mark.parametrize("dtype", [np.uint8, np.float32])
@pytest.mark.parametrize("compress", [False, True], ids=["raw", "gzip"])
def test_a_damaged_idx_file_raises_data_error_or_reads(tmp_path_factory, dtype, compress):
    good = idx_file(tmp_path_factory, dtype, compress)
    folder = tmp_path_factory.mktemp("damaged")

    @SETTINGS
    @given(data=damage(good))
    def check(data):
        a = read_or_named_error(folder / "train-images-idx3-ubyte.gz", data, read_idx, DataError)
        assert a is None or isinstance(a, np.ndarray)

    check()


def test_a_damaged_checkpoint_raises_checkpoint_error_or_reads(tmp_path_factory):
    folder = tmp_path_factory.mktemp("ckpt")
    model = mc.Sequential(mc.Circulant(6, 8, rng=0), mc.ReLU(), mc.Dense(8, 3, rng=1))
    save_checkpoint(folder / "good.npz", model, {"epoch": 1}, mc.Adam(model, lr=1e-3))
    good = (folder / "good.npz").read_bytes()

    @SETTINGS
    @given(data=damage(good))
    def check(data):
        got = read_or_named_error(folder / "damaged.npz", data, read_checkpoint, CheckpointError)
        if got is not None:
            meta, arrays = got
            assert isinstance(meta, dict) and all(isinstance(v, np.ndarray) for v in arrays.values())

    check()
