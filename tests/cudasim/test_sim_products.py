"""The product kernels and their launchers, against the NumPy reference backend.

Odd and even transform lengths (so odd and even numbers of bins), batch 1 and > 1, both
precisions; each launch is one or two blocks of simulated threads.
"""
import numpy as np
import pytest
from numba import cuda

from minicirc.backends import NumpyBackend
from minicirc.backends.cuda import kernels as K

pytestmark = pytest.mark.cudasim

REF = NumpyBackend()
TOL = {np.complex64: dict(rtol=2e-5, atol=2e-5), np.complex128: dict(rtol=1e-12, atol=1e-12)}
CDTYPES = [np.complex64, np.complex128]


def spectra(rng, shape, dtype):
    return (rng.standard_normal(shape) + 1j * rng.standard_normal(shape)).astype(dtype)


def same(got, want, dtype):
    assert got.dtype == np.dtype(dtype), f"dtype {got.dtype}, expected {np.dtype(dtype)}"
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, **TOL[dtype])


@pytest.mark.parametrize("dtype", CDTYPES)
@pytest.mark.parametrize("n", [7, 10])
@pytest.mark.parametrize("b", [1, 3])
def test_cmul_family(rng, dtype, n, b):
    m = n // 2 + 1
    A, B, R = spectra(rng, (b, m), dtype), spectra(rng, (b, m), dtype), spectra(rng, m, dtype)
    same(K.cmul(A, R), REF.cmul(A, R), dtype)
    same(K.cmul_conj(R, B), REF.cmul_conj(R, B), dtype)
    same(K.cmul_conj_sum(A, B), REF.cmul_conj_sum(A, B), dtype)


@pytest.mark.parametrize("dtype", CDTYPES)
@pytest.mark.parametrize("n", [7, 10])
@pytest.mark.parametrize("b", [1, 3])
@pytest.mark.parametrize("lanes, cols", [(16, 16), (2, 2), (4, 3)])
def test_cmul_conj_and_sum_is_the_two_products_in_one(rng, dtype, n, b, lanes, cols):
    m = n // 2 + 1
    R, U, G = spectra(rng, m, dtype), spectra(rng, (b, m), dtype), spectra(rng, (b, m), dtype)
    RG, UG = K.cmul_conj_and_sum(R, U, G, lanes=lanes, cols=cols)
    same(RG, REF.cmul_conj(R, G), dtype)
    same(UG, REF.cmul_conj_sum(U, G), dtype)
    # the same blocks and order of addition as cmul_conj_sum: bit for bit, and so is RG
    np.testing.assert_array_equal(UG, K.cmul_conj_sum(U, G, lanes=lanes, cols=cols))
    np.testing.assert_array_equal(RG, K.cmul_conj(R, G))


@pytest.mark.parametrize("dtype", CDTYPES)
def test_cmul_family_on_single_spectra(rng, dtype):
    A, B = spectra(rng, 6, dtype), spectra(rng, 6, dtype)
    same(K.cmul(A, B), A * B, dtype)
    same(K.cmul_conj(A, B), np.conj(A) * B, dtype)


@pytest.mark.parametrize("dtype", CDTYPES)
@pytest.mark.parametrize("n", [7, 10])
@pytest.mark.parametrize("b", [1, 3])
def test_block_circulant_products(rng, dtype, n, b):
    m, p, q = n // 2 + 1, 3, 2
    W, X, G = spectra(rng, (p, q, m), dtype), spectra(rng, (b, q, m), dtype), spectra(rng, (b, p, m), dtype)
    same(K.bmm_freq(W, X), REF.bmm_freq(W, X), dtype)
    same(K.bmm_freq_conj_w(W, G), REF.bmm_freq_conj_w(W, G), dtype)
    same(K.bmm_freq_conj_x_sum(X, G), REF.bmm_freq_conj_x_sum(X, G), dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("b", [1, 3])
def test_sign_flip_reads_a_cropped_view(rng, dtype, b):
    x = rng.standard_normal((b, 9)).astype(dtype)
    s = rng.choice([-1.0, 1.0], size=12).astype(dtype)
    view = x[:, :7]                                   # strided: what the layer's backward hands over
    got = K.sign_flip(view, s[:7])
    assert got.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(got, view * s[:7])


def test_mixed_precision_promotes_like_numpy(rng):
    A, B = spectra(rng, (2, 4), np.complex64), spectra(rng, 4, np.complex128)
    same(K.cmul(A, B), A * B, np.complex128)


@pytest.mark.parametrize("call, args", [
    (K.cmul, [(2, 4), (5,)]),
    (K.cmul_conj, [(4,), (2, 5)]),
    (K.cmul_conj_sum, [(2, 4), (3, 4)]),
    (K.cmul_conj_and_sum, [(4,), (2, 4), (3, 4)]),
    (K.cmul_conj_and_sum, [(5,), (2, 4), (2, 4)]),
    (K.bmm_freq, [(3, 2, 4), (1, 3, 4)]),
    (K.bmm_freq_conj_w, [(3, 2, 4), (1, 2, 4)]),
    (K.bmm_freq_conj_x_sum, [(2, 2, 4), (3, 3, 4)]),
])
def test_shape_mismatch_is_a_value_error(rng, call, args):
    arrays = [spectra(rng, shape, np.complex64) for shape in args]
    with pytest.raises(ValueError, match="cuda backend: .*got shapes"):
        call(*arrays)


def test_cmul_conj_sum_is_repeatable(rng):
    A, B = spectra(rng, (5, 6), np.complex64), spectra(rng, (5, 6), np.complex64)
    np.testing.assert_array_equal(K.cmul_conj_sum(A, B), K.cmul_conj_sum(A, B))


@pytest.mark.parametrize("dtype", CDTYPES)
@pytest.mark.parametrize("lanes, cols", [(1, 3), (2, 2), (4, 3), (8, 1)])
def test_batch_reductions_over_lanes(rng, dtype, lanes, cols):
    # 7 rows over 1..8 lanes (fewer rows than lanes too), outputs not a multiple of cols
    A, B = spectra(rng, (7, 4), dtype), spectra(rng, (7, 4), dtype)
    same(K.cmul_conj_sum(A, B, lanes=lanes, cols=cols), REF.cmul_conj_sum(A, B), dtype)
    X, G = spectra(rng, (7, 2, 3), dtype), spectra(rng, (7, 3, 3), dtype)
    same(K.bmm_freq_conj_x_sum(X, G, lanes=lanes, cols=cols), REF.bmm_freq_conj_x_sum(X, G), dtype)


def test_batch_reduction_adds_in_its_fixed_order(rng):
    # lanes 2: row sums 0+2+4 and 1+3, then the tree adds lane 1's sum to lane 0's
    A, B = spectra(rng, (5, 3), np.complex64), spectra(rng, (5, 3), np.complex64)
    ar, ai, br, bi = A.real, A.imag, B.real, B.imag            # float32, as the kernel computes
    re, im = ar * br + ai * bi, ar * bi - ai * br
    z = np.float32(0)
    want_re = (((z + re[0]) + re[2]) + re[4]) + ((z + re[1]) + re[3])
    want_im = (((z + im[0]) + im[2]) + im[4]) + ((z + im[1]) + im[3])
    got = K.cmul_conj_sum(A, B, lanes=2, cols=2)
    np.testing.assert_array_equal(got.real, want_re)
    np.testing.assert_array_equal(got.imag, want_im)


def test_reduction_lanes_must_be_a_power_of_two():
    with pytest.raises(ValueError, match="power of two"):
        K.product_kernels(np.dtype(np.float32), 3, 2)


def test_default_reduction_block_is_256_threads():
    assert K.REDUCE_LANES * K.REDUCE_COLS == 256 and K.REDUCE_LANES & (K.REDUCE_LANES - 1) == 0


@cuda.jit
def scaled(x, c, out):
    # at module level: the simulator provides cuda.grid through the kernel's globals
    i, j = cuda.grid(2)
    if i < x.shape[0] and j < x.shape[1]:
        out[i, j] = c * x[i, j]


def test_launch_takes_scalars_and_strided_host_arrays(rng):
    """Numba's dispatcher launches: a scalar argument is fine, and a strided host array is
    read as its values (the simulator gets it contiguous)."""
    x = rng.standard_normal((3, 10))[:, ::2]
    out = np.zeros((3, 5))
    K.launch(scaled, (1, 1, 1), (4, 8, 1), 0, 0, x, 2.5, out)
    np.testing.assert_array_equal(out, 2.5 * x)
