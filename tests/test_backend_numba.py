"""The ``numba`` backend against the NumPy reference: every primitive, then the layer.

Each primitive runs three ways: with the default size rules, with the serial Numba kernels
forced at every size, and with the parallel kernels and threaded transforms forced at every
size, so that the size rules do not hide a kernel from the tests.
"""
from __future__ import annotations

import numba
import numpy as np
import pytest

from minicirc import Circulant
from minicirc.backends import get_backend
from minicirc.backends.numba_backend import NumbaBackend
from minicirc.backends.numpy_backend import NumpyBackend

REF = NumpyBackend()
RTOL = {np.float32: 1e-5, np.float64: 1e-12}
CPLX = {np.float32: np.complex64, np.float64: np.complex128}
SIZES = [1, 2, 7, 8, 255, 1023, 1024]
BATCHES = [1, 3, 128]


BACKENDS = {
    "default": NumbaBackend(),
    "serial": NumbaBackend(workers=1, kernel_min=0),
    "parallel": NumbaBackend(workers=2, kernel_min=0, kernel_parallel_min=0, fft_parallel_min=0),
}


@pytest.fixture(params=list(BACKENDS))
def bk(request):
    return BACKENDS[request.param]


def close(got, want, dtype):
    """Same dtype, same shape, and equal up to float rounding relative to the largest entry."""
    assert got.dtype == want.dtype, f"dtype {got.dtype}, reference {want.dtype}"
    assert got.shape == want.shape
    scale = max(1.0, float(np.max(np.abs(want)))) if want.size else 1.0
    np.testing.assert_allclose(got, want, rtol=RTOL[dtype], atol=RTOL[dtype] * scale)


def real(rng, shape, dtype):
    return rng.standard_normal(shape).astype(dtype)


def spec(rng, shape, dtype):
    return (rng.standard_normal(shape) + 1j * rng.standard_normal(shape)).astype(CPLX[dtype])


# -- the backend object ---------------------------------------------------------------

def test_selected_by_name():
    b = get_backend("numba")
    assert isinstance(b, NumbaBackend) and b.name == "numba" and b.xp is np


def test_rejects_zero_workers():
    with pytest.raises(ValueError, match="workers"):
        NumbaBackend(workers=0)


# -- transforms -------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("batch", BATCHES)
def test_rfft_irfft(bk, dtype, n, batch):
    rng = np.random.default_rng(n * 1000 + batch)
    a = real(rng, (batch, n), dtype)
    A = bk.rfft(a, n)
    close(A, REF.rfft(a, n), dtype)
    assert A.dtype == CPLX[dtype]
    close(bk.irfft(A, n), REF.irfft(A, n), dtype)
    # zero-padding a shorter input, and a single 1-D vector (the layer's r)
    short = a[:, : max(1, n // 2)]
    close(bk.rfft(short, n), REF.rfft(short, n), dtype)
    close(bk.rfft(a[0], n), REF.rfft(a[0], n), dtype)


def test_irfft_leaves_its_input_alone(bk):
    rng = np.random.default_rng(0)
    A = spec(rng, (128, 513), np.float32)
    keep = A.copy()
    bk.irfft(A, 1024)
    np.testing.assert_array_equal(A, keep)


# -- spectral products ------------------------------------------------------------------

@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("batch", BATCHES)
def test_products(bk, dtype, n, batch):
    rng = np.random.default_rng(n * 1000 + batch)
    m = n // 2 + 1
    U, G, R = spec(rng, (batch, m), dtype), spec(rng, (batch, m), dtype), spec(rng, m, dtype)
    close(bk.cmul(U, R), REF.cmul(U, R), dtype)
    close(bk.cmul_conj(R, G), REF.cmul_conj(R, G), dtype)
    close(bk.cmul_conj_sum(U, G), REF.cmul_conj_sum(U, G), dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("batch", BATCHES)
def test_sign_flip(bk, dtype, n, batch):
    rng = np.random.default_rng(n * 1000 + batch)
    x = real(rng, (batch, n), dtype)
    s = rng.choice([-1.0, 1.0], size=n).astype(dtype)
    got = bk.sign_flip(x, s)
    assert got.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(got, REF.sign_flip(x, s))       # a sign change is exact
    # a cropped view, as the layer passes it (du[:, :d_in])
    wide = real(rng, (batch, n + 3), dtype)
    np.testing.assert_array_equal(bk.sign_flip(wide[:, :n], s), wide[:, :n] * s)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(1, 1, 1), (1, 1, 513), (2, 3, 5), (3, 2, 1024 // 2 + 1), (4, 4, 129)])
@pytest.mark.parametrize("batch", [1, 5])
def test_block_products(bk, dtype, shape, batch):
    p, q, m = shape
    rng = np.random.default_rng(p * 100 + q * 10 + batch)
    W, X, G = spec(rng, (p, q, m), dtype), spec(rng, (batch, q, m), dtype), spec(rng, (batch, p, m), dtype)
    close(bk.bmm_freq(W, X), REF.bmm_freq(W, X), dtype)
    close(bk.bmm_freq_conj_w(W, G), REF.bmm_freq_conj_w(W, G), dtype)
    close(bk.bmm_freq_conj_x_sum(X, G), REF.bmm_freq_conj_x_sum(X, G), dtype)


def test_outputs_are_fresh(bk):
    """A later call never writes into an array an earlier call returned (layers keep them)."""
    rng = np.random.default_rng(1)
    U, G, R = spec(rng, (128, 513), np.float32), spec(rng, (128, 513), np.float32), spec(rng, 513, np.float32)
    first = [bk.cmul(U, R), bk.cmul_conj(R, G), bk.cmul_conj_sum(U, G)]
    keep = [a.copy() for a in first]
    second = [bk.cmul(G, R), bk.cmul_conj(R, U), bk.cmul_conj_sum(G, U)]
    for a, k, b in zip(first, keep, second):
        np.testing.assert_array_equal(a, k)
        assert not np.shares_memory(a, b)


def test_batch_sums_are_deterministic():
    """One ordered loop over the batch per frequency: bitwise the same serial, parallel on
    one thread, parallel on all threads, and from call to call."""
    rng = np.random.default_rng(2)
    U, G = spec(rng, (128, 2049), np.float32), spec(rng, (128, 2049), np.float32)
    X, G3 = spec(rng, (64, 2, 513), np.float32), spec(rng, (64, 3, 513), np.float32)
    par, ser = BACKENDS["parallel"], BACKENDS["serial"]
    runs = []
    before = numba.get_num_threads()
    try:
        for threads in sorted({1, before}):
            numba.set_num_threads(threads)
            runs.append((par.cmul_conj_sum(U, G), par.bmm_freq_conj_x_sum(X, G3)))
    finally:
        numba.set_num_threads(before)
    runs.append((ser.cmul_conj_sum(U, G), ser.bmm_freq_conj_x_sum(X, G3)))
    runs.append((par.cmul_conj_sum(U, G), par.bmm_freq_conj_x_sum(X, G3)))
    for run in runs[1:]:
        for got, want in zip(run, runs[0]):
            np.testing.assert_array_equal(got, want)


# -- the rectifier -------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(1, 7), (3, 20, 9, 8), (128, 1023), (2, 100_003)])
@pytest.mark.filterwarnings("ignore:invalid value encountered in multiply")    # inf * False, on purpose
def test_relu_matches_numpy_bit_for_bit(monkeypatch, bk, dtype, shape):
    """mask = x > 0, y = x * mask, dx = dy * mask, as NumPy computes them: negative zeros, NaN
    and infinities in x and dy included. Counted, so that a fallback to NumPy cannot pass."""
    from minicirc.backends import numba_kernels as K
    calls = []
    for name in ("relu", "relu_serial", "relu_backward", "relu_backward_serial"):
        monkeypatch.setattr(K, name, lambda *a, _k=getattr(K, name), _n=name: (calls.append(_n), _k(*a))[1])
    rng = np.random.default_rng(sum(shape))
    x, dy = real(rng, shape, dtype), real(rng, shape, dtype)
    flat, dflat = x.reshape(-1), dy.reshape(-1)
    special = np.array([-0.0, 0.0, np.nan, np.inf, -np.inf, -1.0, 1.0], dtype)[: flat.size]
    flat[: special.size], dflat[-special.size:] = special, special
    y, mask = bk.relu(x)
    y0, mask0 = REF.relu(x)
    assert y.dtype == y0.dtype and mask.dtype == np.bool_
    np.testing.assert_array_equal(mask, mask0)
    assert np.array_equal(y.view(np.uint8), y0.view(np.uint8))       # bits: -0.0 and NaN as NumPy's
    dx, dx0 = bk.relu_backward(dy, mask0), REF.relu_backward(dy, mask0)
    assert dx.dtype == dx0.dtype and np.array_equal(dx.view(np.uint8), dx0.view(np.uint8))
    if bk.kernel_min == 0 or x.size >= 8 * bk.kernel_min:
        assert len(calls) == 2 and calls[0].startswith("relu") and calls[1].startswith("relu_backward"), calls
    # views and other dtypes fall back to the NumPy expressions, with the same answer
    np.testing.assert_array_equal(bk.relu(x[..., ::2])[0], REF.relu(x[..., ::2])[0])
    np.testing.assert_array_equal(bk.relu_backward(dy, mask0.astype(np.float32)), dy * mask0)


# -- finiteness -------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("size", [1, 7, 8192, 100_003])
def test_all_finite(bk, dtype, size):
    rng = np.random.default_rng(size)
    a = real(rng, (1, size), dtype)
    info = np.finfo(dtype)
    a[0, :4] = np.array([info.max, -info.max, info.tiny / 4, -0.0], dtype)[: size]
    assert bk.all_finite(a) is True
    for bad in (np.nan, np.inf, -np.inf):
        for where in {0, size // 2, size - 1}:
            b = a.copy()
            b[0, where] = bad
            assert bk.all_finite(b) is False, (bad, where)
            assert bk.all_finite(b[:, ::-1]) is False                 # not contiguous


# -- the layer --------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("d_in,d_out", [(1, 1), (7, 7), (8, 8), (1024, 1024), (5, 8), (8, 5), (300, 1023), (1024, 700)])
@pytest.mark.parametrize("batch", [1, 128])
@pytest.mark.parametrize("backend", ["numba", BACKENDS["serial"], BACKENDS["parallel"]])
def test_layer_matches_numpy(dtype, d_in, d_out, batch, backend):
    seed = d_in * 7 + d_out
    ref = Circulant(d_in, d_out, rng=seed, dtype=dtype, backend="numpy")
    got = Circulant(d_in, d_out, rng=seed, dtype=dtype, backend=backend)
    assert got.backend.name == "numba"
    rng = np.random.default_rng(seed)
    b = real(rng, d_out, dtype)                                     # non-zero bias
    ref.params["b"][...] = b
    got.params["b"][...] = b
    x, dy = real(rng, (batch, d_in), dtype), real(rng, (batch, d_out), dtype)
    close(got.forward(x), ref.forward(x), dtype)
    close(got.backward(dy), ref.backward(dy), dtype)
    for k in ref.grads:
        close(got.grads[k], ref.grads[k], dtype)
    assert got.grads["r"].dtype == np.dtype(dtype)


def test_layer_rejects_nan_input():
    layer = Circulant(1024, rng=0, backend="numba")
    x = np.zeros((128, 1024), np.float32)
    x[5, 77] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        layer.forward(x)


# -- the benchmark script -----------------------------------------------------------------

def test_layer_bench_runs(tmp_path):
    from benchmarks import layer as bench

    results = bench.run(["--quick", "--sizes", "8,64", "--batches", "1,4", "--no-torch",
                          "--repeats", "1", "--per-round", "1", "--budget", "0", "--out", str(tmp_path)])
    assert {(r["n"], r["batch"]) for r in results} == {(8, 1), (8, 4), (64, 1), (64, 4)}
    assert all({"circ-numpy", "circ-numba", "dense-numpy"} <= set(r["times"]) for r in results)
    assert all(d < 1e-5 for r in results for d in r["max_rel_diff_vs_circ-numpy"].values())
    assert all(r["agrees"] for r in results)
    for ext in ("png", "json", "md"):
        assert (tmp_path / f"layer_bench.{ext}").stat().st_size > 0
