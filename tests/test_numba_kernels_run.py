"""The numba backend really runs its kernels, on the inputs a layer gives it.

Every kernel call falls back to the NumPy expression when its size or type rules say no, and
that fallback gives the right answer too: a broken rule would leave the reference tests green
while no kernel ran. So here each kernel is wrapped with a counter, a layer step runs on a
backend that forces the serial, then the parallel kernels, and the counts must show them.
Also: rows wide enough for the parallel kernels to cut each into several slices (the layer
tests' widths never do), and mixed dtypes, which must give NumPy's promoted result.
"""
import numpy as np
import pytest

from minicirc import BlockCirculant, Circulant
from minicirc.backends import numba_backend
from minicirc.backends.numba_backend import NumbaBackend
from minicirc.backends.numpy_backend import NumpyBackend

REF = NumpyBackend()
SERIAL = NumbaBackend(workers=1, kernel_min=0)
PARALLEL = NumbaBackend(workers=2, kernel_min=0, kernel_parallel_min=0, fft_parallel_min=0)
PRODUCTS = ("cmul", "cmul_conj", "cmul_conj_sum", "sign_flip", "bmm_freq", "bmm_freq_conj_w",
            "bmm_freq_conj_x_sum")


@pytest.fixture
def counted(monkeypatch):
    """{kernel name: calls}, for every serial and parallel kernel of numba_kernels."""
    calls = {}
    K = numba_backend.K
    for base in PRODUCTS:
        for name in (base, base + "_serial"):
            kernel = getattr(K, name)

            def wrapped(*args, _k=kernel, _n=name):
                calls[_n] = calls.get(_n, 0) + 1
                return _k(*args)
            monkeypatch.setattr(K, name, wrapped)
    return calls


@pytest.mark.parametrize("bk, suffix", [(SERIAL, "_serial"), (PARALLEL, "")], ids=["serial", "parallel"])
def test_a_layer_step_runs_the_kernels(counted, bk, suffix):
    rng = np.random.default_rng(0)
    # d_in < d_out: the forward pads, the backward crops du[:, :d_in] (a strided view)
    circ = Circulant(300, 512, rng=0, backend=bk)
    circ.backward(circ.forward(rng.standard_normal((8, 300))))
    block = BlockCirculant(24, 16, 8, rng=0, backend=bk)
    block.backward(block.forward(rng.standard_normal((8, 24))))
    for base in ("cmul", "cmul_conj", "cmul_conj_sum", "sign_flip", "bmm_freq", "bmm_freq_conj_w",
                 "bmm_freq_conj_x_sum"):
        assert counted.get(base + suffix, 0) >= 1, (base + suffix, counted)
    wrong = [k for k in counted if k.endswith("_serial") != (suffix == "_serial")]
    assert not wrong, f"{wrong} ran on the {'serial' if suffix else 'parallel'} backend"


@pytest.mark.parametrize("batch", [1, 3])
@pytest.mark.parametrize("m", [2049, 4097, 9001])
def test_wide_rows_cut_into_slices_match_numpy(batch, m):
    # the parallel kernels cut a row into slices when there are few rows and each is wide
    rng = np.random.default_rng(m)
    U = rng.standard_normal((batch, m)) + 1j * rng.standard_normal((batch, m))
    R = rng.standard_normal(m) + 1j * rng.standard_normal(m)
    for got, want in [(PARALLEL.cmul(U, R), REF.cmul(U, R)), (PARALLEL.cmul_conj(R, U), REF.cmul_conj(R, U)),
                      (PARALLEL.cmul_conj_sum(U, U[::-1].copy()), REF.cmul_conj_sum(U, U[::-1].copy()))]:
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
    x, s = rng.standard_normal((batch, m)), rng.choice([-1.0, 1.0], m)
    np.testing.assert_array_equal(PARALLEL.sign_flip(x, s), x * s)
    W = rng.standard_normal((1, 1, m)) + 1j * rng.standard_normal((1, 1, m))
    np.testing.assert_allclose(PARALLEL.bmm_freq(W, U[:, None, :]), REF.bmm_freq(W, U[:, None, :]),
                               rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("bk", [SERIAL, PARALLEL], ids=["serial", "parallel"])
def test_mixed_dtypes_promote_as_numpy_does(bk):
    rng = np.random.default_rng(1)
    A64 = (rng.standard_normal((3, 9)) + 1j * rng.standard_normal((3, 9)))
    A32, R32 = A64.astype(np.complex64), A64[0].astype(np.complex64)
    x32, s64 = rng.standard_normal((3, 9)).astype(np.float32), rng.choice([-1.0, 1.0], 9)
    for got, want in [(bk.cmul(A32, A64[0]), REF.cmul(A32, A64[0])), (bk.cmul(A64, R32), REF.cmul(A64, R32)),
                      (bk.cmul_conj(R32, A64), REF.cmul_conj(R32, A64)),
                      (bk.cmul_conj_sum(A32, A64), REF.cmul_conj_sum(A32, A64)),
                      (bk.sign_flip(x32, s64), REF.sign_flip(x32, s64))]:
        assert got.dtype == want.dtype, (got.dtype, want.dtype)
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)


KERNELS = PRODUCTS + ("max_exponent", "relu", "relu_backward")


@pytest.mark.parametrize("name", KERNELS)
def test_each_kernel_is_one_function_compiled_serial_and_parallel(name):
    K = numba_backend.K
    parallel, serial = getattr(K, name), getattr(K, name + "_serial")
    assert parallel.targetoptions.get("parallel") is True and not serial.targetoptions.get("parallel")
    assert serial.py_func.__code__ is parallel.py_func.__code__          # written once
    # distinct names, so that Numba's on-disk cache keeps the two machine codes apart
    assert (parallel.py_func.__qualname__, serial.py_func.__qualname__) == (name, name + "_serial")


@pytest.mark.parametrize("batch", [1, 5])
def test_serial_and_parallel_twins_agree_bit_for_bit(batch):
    """The batch sums run over the batch in order in both: no dependence on threads."""
    K = numba_backend.K
    rng = np.random.default_rng(batch)
    m, p, q = 4100, 2, 3
    U, G = (rng.standard_normal((batch, m)) + 1j * rng.standard_normal((batch, m)) for _ in range(2))
    R = rng.standard_normal(m) + 1j * rng.standard_normal(m)
    W = rng.standard_normal((p, q, m)) + 1j * rng.standard_normal((p, q, m))
    X = rng.standard_normal((batch, q, m)) + 1j * rng.standard_normal((batch, q, m))
    Gb = rng.standard_normal((batch, p, m)) + 1j * rng.standard_normal((batch, p, m))
    x, s = rng.standard_normal((batch, m)), rng.choice([-1.0, 1.0], m)
    cases = {"cmul": ((U, R), (batch, m)), "cmul_conj": ((R, G), (batch, m)), "cmul_conj_sum": ((U, G), (m,)),
             "sign_flip": ((x, s), (batch, m)), "bmm_freq": ((W, X), (batch, p, m)),
             "bmm_freq_conj_w": ((W, Gb), (batch, q, m)), "bmm_freq_conj_x_sum": ((X, Gb), (p, q, m))}
    for name, (args, shape) in cases.items():
        outs = []
        for kernel in (getattr(K, name), getattr(K, name + "_serial")):
            out = np.zeros(shape, np.result_type(*args))
            kernel(*args, out)
            outs.append(out)
        np.testing.assert_array_equal(outs[0], outs[1], err_msg=name)
    bits = x.ravel().view(np.int64)
    mask = np.int64(0x7FF0000000000000)
    assert K.max_exponent(bits, mask) == K.max_exponent_serial(bits, mask) < mask
