"""minicirc.mnist: the IDX reader, the bundled MNIST, the validation split and Batches."""
from __future__ import annotations

import gzip
import hashlib
import json
import re
import shutil
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from minicirc.batches import Batches
from minicirc.mnist import DataError, MNIST, load_mnist, read_idx, write_idx
from minicirc.mnist.dataset import BUNDLED, SHA256

STEMS = list(SHA256)


def raises_data_error(path, *fragments, exc=DataError):
    """Context manager: a DataError whose message names ``path`` and each fragment."""

    class _Check:
        def __enter__(self):
            self.cm = pytest.raises(exc)
            self.info = self.cm.__enter__()
            return self.info

        def __exit__(self, *exc_info):
            suppressed = self.cm.__exit__(*exc_info)
            e = self.info.value
            msg = str(e)
            assert isinstance(e, DataError), type(e)
            assert str(path) in msg, msg
            for f in fragments:
                assert f in msg, f"{f!r} not in {msg!r}"
            # raised "from None": the user sees one line, not a gzip/NumPy traceback
            assert e.__cause__ is None and (e.__context__ is None or e.__suppress_context__)
            return suppressed

    return _Check()


def idx_bytes(code: int, shape, payload: bytes) -> bytes:
    """A hand-built IDX file, independent of write_idx."""
    return bytes([0, 0, code, len(shape)]) + b"".join(d.to_bytes(4, "big") for d in shape) + payload


# ---------------------------------------------------------------------------------------------
# IDX reader and writer

@pytest.mark.parametrize("suffix", ["", ".gz"])
@pytest.mark.parametrize("dtype", [np.uint8, np.int8, np.int16, np.int32, np.float32, np.float64])
def test_idx_round_trip(tmp_path, suffix, dtype):
    rng = np.random.default_rng(1)
    a = (rng.standard_normal((3, 4, 5)) * 50).astype(dtype)
    p = tmp_path / f"a.idx{suffix}"
    write_idx(p, a)
    b = read_idx(p)
    assert b.dtype == np.dtype(dtype) and b.dtype.isnative
    assert b.shape == a.shape
    np.testing.assert_array_equal(b, a)
    assert b.flags.writeable
    raw = p.read_bytes()
    assert (raw[:2] == b"\x1f\x8b") == (suffix == ".gz")


def test_idx_layout_is_big_endian_and_matches_the_spec(tmp_path):
    # hand-built files, so a writer and reader that agree on a wrong layout cannot both pass
    p = tmp_path / "i32"
    p.write_bytes(idx_bytes(0x0C, (2,), b"\x00\x00\x01\x02\xff\xff\xff\xfe"))
    np.testing.assert_array_equal(read_idx(p), np.array([258, -2], np.int32))
    p.write_bytes(idx_bytes(0x0D, (1,), b"\x3f\xc0\x00\x00"))
    np.testing.assert_array_equal(read_idx(p), np.array([1.5], np.float32))
    p.write_bytes(idx_bytes(0x08, (2, 3), bytes(range(6))))
    np.testing.assert_array_equal(read_idx(p), np.arange(6, dtype=np.uint8).reshape(2, 3))
    write_idx(p, np.arange(6, dtype=np.uint8).reshape(2, 3))
    assert p.read_bytes() == idx_bytes(0x08, (2, 3), bytes(range(6)))


def test_gzip_is_detected_by_content_not_name(tmp_path):
    a = np.arange(12, dtype=np.uint8).reshape(3, 4)
    gz_named_plain = tmp_path / "data.idx"
    gz_named_plain.write_bytes(gzip.compress(idx_bytes(0x08, (3, 4), a.tobytes())))
    plain_named_gz = tmp_path / "data.idx.gz"
    plain_named_gz.write_bytes(idx_bytes(0x08, (3, 4), a.tobytes()))
    np.testing.assert_array_equal(read_idx(gz_named_plain), a)
    np.testing.assert_array_equal(read_idx(plain_named_gz), a)


def test_write_idx_rejects_what_idx_cannot_hold(tmp_path):
    with pytest.raises(ValueError, match="int64"):
        write_idx(tmp_path / "x", np.zeros(3, np.int64))
    with pytest.raises(ValueError, match="dimensions"):
        write_idx(tmp_path / "x", np.float32(1.0))


GOOD = idx_bytes(0x08, (3, 4), bytes(12))


@pytest.mark.parametrize("content, fragments", [
    (b"", ["empty file"]),
    (b"\x00\x00\x08", ["too short", "3 bytes"]),
    (b"\x01\x00\x08\x01" + bytes(5), ["not an IDX file", "01 00 08 01"]),
    (b"\x00\x00\x07\x01" + bytes(5), ["unknown IDX type code 0x07"]),
    (b"\x00\x00\x08\x00", ["0 dimensions"]),
    (b"\x00\x00\x08\x03" + bytes(6), ["truncated header", "3 dimensions need 16 bytes"]),
    (GOOD[:-7], ["truncated", "3x4 uint8 = 12 bytes", "found 5"]),
    (GOOD + b"\x00\x01\x02", ["3 trailing bytes", "3x4 uint8 = 12 bytes", "found 15"]),
    (idx_bytes(0x0D, (2, 3), bytes(20)), ["truncated", "2x3 float32 = 24 bytes", "found 20"]),
    (gzip.compress(GOOD)[:20], ["truncated gzip stream"]),
    (gzip.compress(GOOD[:-1]), ["truncated", "found 11"]),
    # sizes that agree only because one dimension is 0 (found by the fuzz test, 2 runs in 95)
    (b"\x00\x00\x08\x04" + bytes(4) + (2**31).to_bytes(4, "big") * 3,
     ["4-dimensional shape 0x2147483648x2147483648x2147483648", "NumPy cannot hold"]),
    (b"\x00\x00\x08\x46" + bytes(4 * 70), ["70-dimensional shape", "NumPy cannot hold"]),
], ids=["empty", "short", "magic", "type-code", "ndim-0", "header", "payload", "trailing",
        "float32-payload", "gzip-stream", "gzip-payload", "zero-dim-too-big", "zero-dim-too-many"])
def test_malformed_idx_raises_naming_file_and_problem(tmp_path, content, fragments):
    p = tmp_path / "train-images-idx3-ubyte.gz"
    p.write_bytes(content)
    with raises_data_error(p, *fragments):
        read_idx(p)


def test_corrupt_gzip_crc_is_reported(tmp_path):
    data = bytearray(gzip.compress(GOOD))
    data[-8] ^= 0xFF  # the CRC-32 in the gzip trailer: the payload no longer matches it
    p = tmp_path / "labels.gz"
    p.write_bytes(bytes(data))
    with raises_data_error(p, "corrupt gzip stream"):
        read_idx(p)


def test_missing_file_and_directory(tmp_path):
    p = tmp_path / "nowhere" / "t10k-labels-idx1-ubyte.gz"
    with raises_data_error(p, "no such file", exc=FileNotFoundError):
        read_idx(p)
    with raises_data_error(tmp_path, "cannot read"):
        read_idx(tmp_path)


# ---------------------------------------------------------------------------------------------
# the bundled MNIST

TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


@pytest.fixture(scope="module")
def mnist() -> MNIST:
    return load_mnist()  # verify=None: the bundled files carry the standard names, so verified


def test_bundled_files_are_in_the_package():
    assert BUNDLED.is_dir() and BUNDLED.parent.parent.name == "minicirc"
    assert sorted(p.name for p in BUNDLED.glob("*.gz")) == sorted(s + ".gz" for s in STEMS)


def test_checksum_table_matches_the_bundled_readme():
    readme = (BUNDLED / "README.md").read_text()
    assert dict((s, h) for h, s in re.findall(r"([0-9a-f]{64})\s+(\S+)", readme)) == SHA256


def test_bundled_mnist_shapes_dtypes_and_values(mnist):
    assert mnist.val is None
    for (X, y), n in ((mnist.train, 60000), (mnist.test, 10000)):
        assert X.shape == (n, 784) and X.dtype == np.float32
        assert y.shape == (n,) and y.dtype == np.int64
        assert X.min() == 0.0 and X.max() == 1.0
        np.testing.assert_array_equal(X * 255, np.round(X * 255))  # pixel / 255, unscaled otherwise
    # file order kept: the first training labels of MNIST
    np.testing.assert_array_equal(mnist.train[1][:10], [5, 0, 4, 1, 9, 2, 1, 3, 1, 4])


def test_bundled_mnist_label_counts(mnist):
    np.testing.assert_array_equal(np.bincount(mnist.train[1], minlength=10), TRAIN_COUNTS)
    np.testing.assert_array_equal(np.bincount(mnist.test[1], minlength=10), TEST_COUNTS)


def copy_bundled(dst: Path) -> Path:
    for s in STEMS:
        shutil.copy(BUNDLED / (s + ".gz"), dst / (s + ".gz"))
    return dst


def test_flipped_byte_fails_verification_naming_the_file(tmp_path, mnist):
    copy_bundled(tmp_path)
    p = tmp_path / "train-labels-idx1-ubyte.gz"
    data = bytearray(gzip.decompress(p.read_bytes()))
    assert data[8] == 5
    data[8] = 3  # a valid label, so only the checksum can tell
    p.write_bytes(gzip.compress(bytes(data)))  # a well-formed gzip stream of damaged content
    actual = hashlib.sha256(bytes(data)).hexdigest()
    with raises_data_error(p, "SHA-256 mismatch", SHA256["train-labels-idx1-ubyte"], actual):
        load_mnist(tmp_path)
    with raises_data_error(p, "SHA-256 mismatch"):
        load_mnist(tmp_path, verify=True)
    d = load_mnist(tmp_path, verify=False)  # the file itself is fine: the checksum caught it
    assert d.train[1][0] == 3
    np.testing.assert_array_equal(d.train[1][1:], mnist.train[1][1:])


def test_raw_files_load_and_verify(tmp_path, mnist):
    copy_bundled(tmp_path)
    for s in ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"):
        gz = tmp_path / (s + ".gz")
        (tmp_path / s).write_bytes(gzip.decompress(gz.read_bytes()))
        gz.unlink()
    d = load_mnist(tmp_path)
    np.testing.assert_array_equal(d.test[0], mnist.test[0])
    np.testing.assert_array_equal(d.test[1], mnist.test[1])
    raw = bytearray((tmp_path / "t10k-labels-idx1-ubyte").read_bytes())
    raw[-1] = (raw[-1] + 1) % 10
    (tmp_path / "t10k-labels-idx1-ubyte").write_bytes(bytes(raw))
    with raises_data_error(tmp_path / "t10k-labels-idx1-ubyte", "SHA-256 mismatch"):
        load_mnist(tmp_path)


def row_counts(X: np.ndarray, y: np.ndarray) -> Counter:
    return Counter(r.tobytes() + bytes([int(c)]) for r, c in zip(X, y))


def test_validation_split(mnist):
    d = load_mnist(validation=10000, seed=1)
    (Xt, yt), (Xv, yv) = d.train, d.val
    assert Xt.shape == (50000, 784) and Xv.shape == (10000, 784)
    assert yt.shape == (50000,) and yv.shape == (10000,)
    assert Xv.dtype == np.float32 and yv.dtype == np.int64
    # train + val is exactly the original training set, each sample once (a partition)
    assert row_counts(Xt, yt) + row_counts(Xv, yv) == row_counts(*mnist.train)
    # the held-out part is a random sample, not the head or tail of the file
    assert not np.array_equal(yv, mnist.train[1][:10000])
    assert not np.array_equal(yv, mnist.train[1][-10000:])
    np.testing.assert_array_equal(d.test[1], mnist.test[1])

    again = load_mnist(validation=10000, seed=1)
    np.testing.assert_array_equal(again.val[0], Xv)
    np.testing.assert_array_equal(again.train[1], yt)
    other = load_mnist(validation=10000, seed=2)
    assert not np.array_equal(other.val[1], yv)


# ---------------------------------------------------------------------------------------------
# a user directory of small generated files

@pytest.fixture
def small_dir(tmp_path):
    rng = np.random.default_rng(7)
    for prefix, n in (("train", 50), ("t10k", 20)):
        write_idx(tmp_path / f"{prefix}-images-idx3-ubyte.gz",
                  rng.integers(0, 256, (n, 4, 5), dtype=np.uint8))
        write_idx(tmp_path / f"{prefix}-labels-idx1-ubyte",  # raw: both kinds in one directory
                  rng.integers(0, 10, n, dtype=np.uint8))
    return tmp_path


def test_load_user_directory_with_verify_off(small_dir):
    d = load_mnist(small_dir, verify=False)
    images = read_idx(small_dir / "train-images-idx3-ubyte.gz")
    labels = read_idx(small_dir / "train-labels-idx1-ubyte")
    X, y = d.train
    assert X.shape == (50, 20) and X.dtype == np.float32 and y.dtype == np.int64
    np.testing.assert_array_equal(X, images.reshape(50, 20).astype(np.float32) / 255)
    np.testing.assert_array_equal(y, labels)
    assert d.test[0].shape == (20, 20) and d.val is None

    d = load_mnist(small_dir, verify=False, validation=0.2, seed=3)
    assert len(d.train[0]) == 40 and len(d.val[0]) == 10
    assert row_counts(*d.train) + row_counts(*d.val) == row_counts(X, y)


def test_user_directory_under_standard_names_is_verified_by_default(small_dir):
    with raises_data_error(small_dir / "train-images-idx3-ubyte.gz", "SHA-256 mismatch",
                           "verify=False"):
        load_mnist(small_dir)


@pytest.mark.parametrize("validation", [50, -1, 1.0, 1.5, True, "10"])
def test_bad_validation_argument(small_dir, validation):
    with pytest.raises(ValueError, match="validation"):
        load_mnist(small_dir, verify=False, validation=validation)


def test_user_directory_problems(small_dir):
    labels = small_dir / "train-labels-idx1-ubyte"
    write_idx(labels, np.zeros(49, np.uint8))
    with raises_data_error(labels, "50 images", "49 labels",
                           str(small_dir / "train-images-idx3-ubyte.gz")):
        load_mnist(small_dir, verify=False)

    bad = np.zeros(50, np.uint8)
    bad[17] = 10
    write_idx(labels, bad)
    with raises_data_error(labels, "outside 0..9", "10 at index 17"):
        load_mnist(small_dir, verify=False)

    images = small_dir / "t10k-images-idx3-ubyte.gz"
    write_idx(images, np.zeros((20, 20), np.uint8))
    write_idx(labels, np.zeros(50, np.uint8))
    with raises_data_error(images, "expected uint8 images"):
        load_mnist(small_dir, verify=False)

    images.unlink()
    with raises_data_error(small_dir, "t10k-images-idx3-ubyte", exc=FileNotFoundError):
        load_mnist(small_dir, verify=False)
    with raises_data_error(small_dir / "nope", "not a directory", exc=FileNotFoundError):
        load_mnist(small_dir / "nope")


def test_empty_sets_and_vanishing_fractions_are_named(small_dir):
    images = small_dir / "t10k-images-idx3-ubyte.gz"
    write_idx(images, np.zeros((0, 4, 5), np.uint8))
    write_idx(small_dir / "t10k-labels-idx1-ubyte", np.zeros(0, np.uint8))
    with raises_data_error(images, "holds no images; the test set is empty"):
        load_mnist(small_dir, verify=False)
    write_idx(images, np.zeros((20, 4, 5), np.uint8))
    write_idx(small_dir / "t10k-labels-idx1-ubyte", np.zeros(20, np.uint8))
    # 0.001 of 50 images rounds to none: refused rather than silently no validation set
    with pytest.raises(ValueError, match=r"validation=0.001 of 50 training samples holds out none"):
        load_mnist(small_dir, verify=False, validation=0.001)
    assert len(load_mnist(small_dir, verify=False, validation=0.02).val[0]) == 1     # the hint's 1/n


# ---------------------------------------------------------------------------------------------
# Batches

def toy(n=10):
    X = np.arange(n, dtype=np.float32)[:, None] * np.ones((1, 3), np.float32)
    return X, np.arange(n)


def run(b: Batches, epochs: int):
    return [(xb.copy(), yb.copy()) for _ in range(epochs) for xb, yb in b]


def assert_same(got, want):
    assert len(got) == len(want)
    for (gx, gy), (wx, wy) in zip(got, want):
        np.testing.assert_array_equal(gx, wx)
        np.testing.assert_array_equal(gy, wy)


def test_batches_cover_each_sample_once_per_epoch():
    X, y = toy(10)
    b = Batches(X, y, 3, seed=4)
    assert len(b) == 4
    orders = []
    for _ in range(3):
        batches = list(b.epoch())
        assert [len(yb) for _, yb in batches] == [3, 3, 3, 1]  # the partial batch is kept
        for xb, yb in batches:
            np.testing.assert_array_equal(xb[:, 0], yb)  # rows stay with their labels
        order = np.concatenate([yb for _, yb in batches])
        np.testing.assert_array_equal(np.sort(order), np.arange(10))
        orders.append(order)
    assert not (np.array_equal(orders[0], orders[1]) and np.array_equal(orders[1], orders[2]))
    assert len(Batches(X, y, 5)) == 2 and len(Batches(X, y, 11)) == 1


def test_batches_order_differs_per_epoch_and_follows_the_seed():
    X, y = toy(100)

    def orders(b, epochs):
        return [np.concatenate([yb for _, yb in b]) for _ in range(epochs)]

    e0, e1 = orders(Batches(X, y, 7, seed=1), 2)
    assert not np.array_equal(e0, e1)
    assert_same(run(Batches(X, y, 7, seed=1), 2), run(Batches(X, y, 7, seed=1), 2))
    assert not np.array_equal(orders(Batches(X, y, 7, seed=2), 1)[0], e0)
    np.testing.assert_array_equal(orders(Batches(X, y, 7, shuffle=False), 2)[1], np.arange(100))


def resume(X, y, state, bs, epochs_left):
    b = Batches(X, y, bs, seed=12345)  # a different seed: the state alone must carry the rng
    b.set_state(json.loads(json.dumps(state)))
    return run(b, epochs_left)


@pytest.mark.parametrize("stop_after", [0, 1, 4, 7, 8, 9, 13])
def test_batches_resume_bit_exactly(stop_after):
    X, y = toy(23)
    bs = 3  # 8 batches per epoch: 7 and 8 are mid-epoch, 8 is at the epoch boundary
    reference = run(Batches(X, y, bs, seed=5), 3)

    b = Batches(X, y, bs, seed=5)
    got, it, state = [], None, None
    while len(got) < stop_after:  # consume stop_after batches, then checkpoint
        it = it or iter(b)
        try:
            xb, yb = next(it)
        except StopIteration:
            it = None
            continue
        got.append((xb.copy(), yb.copy()))
    state = b.state()
    assert state["epoch"] == stop_after // 8 and state["position"] == stop_after % 8
    # the rest of the interrupted epoch, then the remaining whole ones
    epochs_left = 3 - stop_after // 8
    got += resume(X, y, state, bs, epochs_left)
    assert_same(got, reference)


def test_batches_state_after_a_finished_epoch_loop():
    X, y = toy(23)
    reference = run(Batches(X, y, 4, seed=9), 3)
    b = Batches(X, y, 4, seed=9)
    first = run(b, 1)
    state = b.state()
    assert state["epoch"] == 1 and state["position"] == 0
    assert_same(first + resume(X, y, state, 4, 2), reference)
    assert_same(first + run(b, 2), reference)  # and the original keeps going the same way


def test_batches_set_state_rejects_a_different_setup():
    X, y = toy(23)
    state = Batches(X, y, 4).state()
    with pytest.raises(ValueError, match="batch_size=4"):
        Batches(X, y, 5).set_state(state)
    with pytest.raises(ValueError, match="not a Batches state"):
        Batches(X, y, 4).set_state({"epoch": 0})


def test_batches_stale_iterator_raises():
    X, y = toy(23)
    b = Batches(X, y, 4)
    old = iter(b)
    next(old)
    new = iter(b)
    next(new)
    with pytest.raises(RuntimeError, match="superseded"):
        next(old)


def test_batches_index_with_a_numpy_integer_array_and_copy_nothing_else():
    class OnlyFancy:
        """Array-like that accepts nothing but a NumPy integer index array."""

        def __init__(self, a):
            self.a, self.shape = a, a.shape

        def __getitem__(self, idx):
            assert isinstance(idx, np.ndarray) and idx.dtype.kind in "iu", idx
            return self.a[idx]

    X, y = toy(10)
    b = Batches(OnlyFancy(X), OnlyFancy(y), 4, seed=0)
    assert b.X.a is X  # held, not copied
    order = np.concatenate([yb for _, yb in b])
    np.testing.assert_array_equal(np.sort(order), np.arange(10))


def test_batches_argument_checks():
    X, y = toy(10)
    with pytest.raises(ValueError, match="9"):
        Batches(X, y[:9], 2)
    for bad in (0, -1, 2.0, True):
        with pytest.raises(ValueError, match="batch_size"):
            Batches(X, y, bad)
