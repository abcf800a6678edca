"""The whole CudaBackend, on host arrays under the simulator, running the real layers.

``CudaBackend.simulated`` swaps only the array module (NumPy for CuPy); the launchers, kernels
and own FFT are the GPU ones. With ``fft="cufft"`` scipy.fft stands in for cuFFT, so that case
checks the product kernels inside a layer on odd ``n``; the real cuFFT path is tests/test_gpu.py's.
"""
import numpy as np
import pytest

from minicirc import Circulant, Dense
from minicirc.backends import NumpyBackend
from minicirc.backends.cuda import CudaBackend
from minicirc.layers.base import NonFiniteError

pytestmark = pytest.mark.cudasim

TOL = {np.float32: dict(rtol=1e-4, atol=1e-5), np.float64: dict(rtol=1e-10, atol=1e-12)}


def run(layer, x, dy):
    y = layer.forward(x)
    dx = layer.backward(dy)
    return y, dx, dict(layer.grads)


def compare_layers(make, d_in, d_out, b, dtype, backend, rng):
    ref, sim = make(NumpyBackend()), make(backend)
    for name, p in ref.params.items():                 # non-zero biases, as gradcheck uses
        if name == "b":
            p[...] = rng.standard_normal(p.shape)
            sim.params[name][...] = p
    x = rng.standard_normal((b, d_in)).astype(dtype)
    dy = rng.standard_normal((b, d_out)).astype(dtype)
    want, got = run(ref, x, dy), run(sim, x, dy)
    for w, g in zip(want[:2], got[:2]):
        assert g.dtype == np.dtype(dtype)
        np.testing.assert_allclose(g, w, **TOL[dtype])
    for name in want[2]:
        assert got[2][name].dtype == np.dtype(dtype), name
        np.testing.assert_allclose(got[2][name], want[2][name], **TOL[dtype], err_msg=name)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("d_in, d_out, b", [(16, 16, 1), (12, 16, 3), (16, 10, 2)])
def test_circulant_layer_own_fft(rng, dtype, d_in, d_out, b):
    bk = CudaBackend.simulated("own")
    compare_layers(lambda k: Circulant(d_in, d_out, rng=3, dtype=dtype, backend=k),
                   d_in, d_out, b, dtype, bk, rng)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("d_in, d_out, b", [(7, 5, 3), (6, 9, 1)])
def test_circulant_layer_products_on_odd_and_even_n(rng, dtype, d_in, d_out, b):
    bk = CudaBackend.simulated("cufft")
    compare_layers(lambda k: Circulant(d_in, d_out, rng=3, dtype=dtype, backend=k),
                   d_in, d_out, b, dtype, bk, rng)


def test_dense_layer(rng):
    bk = CudaBackend.simulated("own")
    compare_layers(lambda k: Dense(5, 3, rng=1, dtype=np.float64, backend=k), 5, 3, 2, np.float64, bk, rng)


def test_own_fft_refuses_odd_n_through_the_layer(rng):
    layer = Circulant(7, rng=0, backend=CudaBackend.simulated("own"))
    with pytest.raises(ValueError, match="n=7 is not a power of two"):
        layer.forward(rng.standard_normal((2, 7)))


def test_names_and_arrays():
    own, cufft = CudaBackend.simulated("own"), CudaBackend.simulated("cufft")
    assert (own.name, cufft.name) == ("cuda-ownfft", "cuda")
    a = own.asarray([1.0, 2.0], dtype=np.float32)
    assert own.is_array(a) and own.to_numpy(a).dtype == np.float32
    assert own.all_finite(a) and not own.all_finite(np.array([np.nan]))
    with pytest.raises(ValueError, match="fft must be one of"):
        CudaBackend.simulated("fftw")


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_all_finite_catches_every_nan_and_inf(rng, dtype):
    bk = CudaBackend.simulated("cufft")
    x = rng.standard_normal((3, 5)).astype(dtype)
    assert bk.all_finite(x) and bk.all_finite(x[:, ::2]) and bk.all_finite(x[:0])
    for bad in (np.nan, np.inf, -np.inf):
        y = x.copy()
        y[2, 4] = bad
        assert not bk.all_finite(y), bad
    y = x.copy()
    y[0, 0], y[1, 1] = np.inf, -np.inf                 # they cancel to NaN, still caught
    assert not bk.all_finite(y)
    big = np.full(4, np.finfo(dtype).max, dtype)       # finite; a float64 sum of float64s overflows
    assert bk.all_finite(big)


def test_layers_skip_the_finite_check_unless_asked(rng):
    # On a GPU each check waits for the device, so by default a NaN passes through to the
    # loss (where the trainer catches it); check_finite=True restores the CPU's eager check.
    x = rng.standard_normal((2, 16))
    x[1, 3] = np.nan
    quiet = CudaBackend.simulated("own")
    assert (quiet.on_host, quiet.check_finite) == (False, False)
    y = Circulant(16, rng=0, backend=quiet).forward(x)
    assert np.isnan(y[1]).all() and np.isfinite(y[0]).all()
    eager = CudaBackend.simulated("own", check_finite=True)
    assert eager.check_finite and "check_finite=True" in repr(eager)
    with pytest.raises(NonFiniteError, match=r"Circulant\(16, 16, backend=.cuda-ownfft.\): input contains NaN or Inf"):
        Circulant(16, rng=0, backend=eager).forward(x)


def test_a_layer_copy_shares_the_backend(rng):
    bk = CudaBackend.simulated("own")
    layer = Circulant(16, rng=0, backend=bk)
    double = layer.astype(np.float64)                  # a deep copy: modules inside must not be copied
    assert double.backend is bk and double.params["r"].dtype == np.float64
    x = rng.standard_normal((2, 16))
    np.testing.assert_allclose(double.forward(x), Circulant(16, rng=0, dtype=np.float64).forward(x),
                               rtol=1e-6, atol=1e-6)


# BlockCirculant lives on another branch until they merge; the test appears with the layer
# (defined conditionally rather than skipped, since the simulator run allows no skips).
if hasattr(__import__("minicirc.layers", fromlist=["_"]), "BlockCirculant"):
    from minicirc.layers import BlockCirculant

    @pytest.mark.parametrize("dtype", [np.float32, np.float64])
    @pytest.mark.parametrize("fft, d_in, d_out, k", [("own", 12, 10, 8), ("cufft", 7, 9, 3)])
    def test_block_circulant_layer(rng, dtype, fft, d_in, d_out, k):
        compare_layers(lambda bk: BlockCirculant(d_in, d_out, k, rng=1, dtype=dtype, backend=bk),
                       d_in, d_out, 3, dtype, CudaBackend.simulated(fft), rng)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_conv_and_pool_layers(rng, dtype):
    """Conv2D and MaxPool2D through the CudaBackend's window primitives (the array code the GPU
    runs with CuPy, here on its simulator's NumPy): the same numbers as the reference backend."""
    from minicirc import Conv2D, MaxPool2D

    bk = CudaBackend.simulated("own")
    x = rng.standard_normal((3, 2, 9, 8)).astype(dtype)
    for make in (lambda k: Conv2D(2, 4, 3, stride=2, padding=1, rng=5, dtype=dtype, backend=k),
                 lambda k: MaxPool2D(3, 2, dtype=dtype, backend=k)):
        ref, sim = make(NumpyBackend()), make(bk)
        y = ref.forward(x)
        dy = rng.standard_normal(y.shape).astype(dtype)
        want, got = (y, ref.backward(dy), dict(ref.grads)), run(sim, x, dy)
        for w, g in zip(want[:2], got[:2]):
            assert g.dtype == np.dtype(dtype)
            np.testing.assert_allclose(g, w, **TOL[dtype])
        for name in want[2]:
            np.testing.assert_allclose(got[2][name], want[2][name], **TOL[dtype], err_msg=name)
