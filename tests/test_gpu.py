"""The CUDA backend on a real GPU, against the NumPy reference.

Every test marked ``gpu`` is skipped, with the reason, where no real GPU is present (unless
MINICIRC_REQUIRE_GPU=1, as the GPU script sets: there they fail, naming what is missing). The
simulator does not count: it reports ``cuda.is_available()`` true, so a GPU is recognised by
CuPy seeing a device with ``NUMBA_ENABLE_CUDASIM`` unset. The last tests here run everywhere
and check the other side: no GPU means a clear ``RuntimeError``, and ``import minicirc``
loads neither CuPy nor Numba's CUDA target.
"""
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from minicirc import Circulant, Dense
from minicirc.backends import NumpyBackend, get_backend, to_host

ROOT = Path(__file__).resolve().parents[1]
# CuPy reads CUPY_TF32 once, at its first matmul: an image that sets it would run the float32
# dense layer's products in TF32 (about 1e-3 off) and fail a comparison that is not about that.
os.environ.pop("CUPY_TF32", None)


def _why_no_gpu():
    """None where a real GPU is usable, else why not."""
    if os.environ.get("NUMBA_ENABLE_CUDASIM", "0") not in ("", "0"):
        return "NUMBA_ENABLE_CUDASIM is set: Numba's simulator, not a GPU"
    try:
        import cupy
    except Exception as e:  # ImportError, or a CuPy built for another CUDA
        return f"CuPy is not importable ({type(e).__name__}: {e})"
    try:
        count = cupy.cuda.runtime.getDeviceCount()
    except Exception as e:
        return f"CuPy finds no CUDA device ({type(e).__name__}: {e})"
    return None if count > 0 else "CuPy finds no CUDA device"


NO_GPU = _why_no_gpu()
# benchmarks/gpu_check.sh sets MINICIRC_REQUIRE_GPU=1: on the GPU machine a missing GPU or CuPy
# is a failure (each test then raises the backend's RuntimeError naming what is missing).
REQUIRED = os.environ.get("MINICIRC_REQUIRE_GPU", "0") not in ("", "0")
_skip_without_gpu = pytest.mark.skipif(NO_GPU is not None and not REQUIRED,
                                       reason=f"needs a real NVIDIA GPU: {NO_GPU}")


def needs_gpu(test):
    """Mark ``gpu`` and skip, saying why, where there is no real GPU."""
    return pytest.mark.gpu(_skip_without_gpu(test))

REF = NumpyBackend()
DTYPES = [np.float32, np.float64]
CDT = {np.float32: np.complex64, np.float64: np.complex128}
#: Error relative to the largest reference entry; float32 FFTs of length 8192 stay near 1e-6.
RTOL = {np.float32: 2e-5, np.float64: 1e-11}
#: (fft, n) pairs: cuFFT on odd, even and awkward lengths; the own FFT on powers of two
#: up to its float32 limit (the float64 cases stop at 4096).
CASES = [("cufft", 7), ("cufft", 10), ("cufft", 1000), ("cufft", 1023), ("cufft", 16384),
         ("own", 2), ("own", 8), ("own", 64), ("own", 1024), ("own", 4096), ("own", 8192)]


def backend(fft):
    from minicirc.backends.cuda import CudaBackend

    return CudaBackend(fft=fft)


def host(a):
    return to_host(a)


def close(got, want, dtype, what=""):
    got, want = host(got), np.asarray(want)
    assert got.shape == want.shape, f"{what}: shape {got.shape}, expected {want.shape}"
    scale = max(1e-30, float(np.abs(want).max()))
    err = float(np.abs(got - want).max()) / scale
    assert err < RTOL[dtype], f"{what}: relative error {err:.2e} (limit {RTOL[dtype]:.0e})"


def spectra(rng, shape, dtype):
    return (rng.standard_normal(shape) + 1j * rng.standard_normal(shape)).astype(CDT[dtype])


def case_ok(fft, n, dtype):
    return not (fft == "own" and np.dtype(dtype) == np.float64 and n > 4096)


#: Every (fft, n, dtype) the backend can do: the own FFT's float64 cases past 4096 are left out
#: here rather than skipped, so that a run with MINICIRC_REQUIRE_GPU=1 reports no skips at all.
FFT_CASES = [(fft, n, dtype) for fft, n in CASES for dtype in DTYPES if case_ok(fft, n, dtype)]


# -- primitives ------------------------------------------------------------------
@needs_gpu
@pytest.mark.parametrize("fft, n, dtype", FFT_CASES)
@pytest.mark.parametrize("b", [1, 33])
def test_fft_primitives(fft, n, dtype, b):
    bk, rng = backend(fft), np.random.default_rng(n)
    x = rng.standard_normal((b, n)).astype(dtype)
    X = bk.rfft(bk.asarray(x), n)
    assert X.dtype == CDT[dtype]
    close(X, REF.rfft(x, n), dtype, "rfft")
    short = x[:, : max(1, n // 2 + 1)]                  # zero-padded to n, as the layer does
    close(bk.rfft(bk.asarray(short), n), REF.rfft(short, n), dtype, "rfft padded")
    S = spectra(rng, (b, n // 2 + 1), dtype)
    # A real signal's spectrum has real DC and (even n) Nyquist bins; cuFFT's C2R is undefined
    # otherwise (it does not drop those imaginary parts as scipy does), and layers never make them.
    S[:, 0] = S[:, 0].real
    if n % 2 == 0:
        S[:, -1] = S[:, -1].real
    S_dev = bk.asarray(S)
    y = bk.irfft(S_dev, n)
    assert y.dtype == np.dtype(dtype)
    close(y, REF.irfft(S, n), dtype, "irfft")
    np.testing.assert_array_equal(host(S_dev), S, err_msg="irfft overwrote its input")
    # with leave to use its input as scratch (cuFFT's C2R then skips CuPy's copy): same result
    close(bk.irfft(bk.asarray(S), n, overwrite=True), REF.irfft(S, n), dtype, "irfft, overwrite=True")
    close(bk.irfft(X, n), x, dtype, "irfft(rfft(x))")
    r = x[0]
    close(bk.rfft(bk.asarray(r), n), REF.rfft(r, n), dtype, "rfft of a 1-D row")


@needs_gpu
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n", [7, 10, 1024])
@pytest.mark.parametrize("b", [1, 64])
def test_product_primitives(n, dtype, b):
    bk, rng = backend("cufft"), np.random.default_rng(b)
    m = n // 2 + 1
    A, B, R = spectra(rng, (b, m), dtype), spectra(rng, (b, m), dtype), spectra(rng, m, dtype)
    dA, dB, dR = bk.asarray(A), bk.asarray(B), bk.asarray(R)
    for name, got, want in [("cmul", bk.cmul(dA, dR), REF.cmul(A, R)),
                            ("cmul_conj", bk.cmul_conj(dR, dB), REF.cmul_conj(R, B)),
                            ("cmul_conj_sum", bk.cmul_conj_sum(dA, dB), REF.cmul_conj_sum(A, B))]:
        assert got.dtype == CDT[dtype], name
        close(got, want, dtype, name)
    RG, AG = bk.cmul_conj_and_sum(dR, dA, dB)
    close(RG, REF.cmul_conj(R, B), dtype, "cmul_conj_and_sum: conj(R) G")
    np.testing.assert_array_equal(host(AG), host(bk.cmul_conj_sum(dA, dB)))
    p, q = 3, 2
    W, X, G = spectra(rng, (p, q, m), dtype), spectra(rng, (b, q, m), dtype), spectra(rng, (b, p, m), dtype)
    dW, dX, dG = bk.asarray(W), bk.asarray(X), bk.asarray(G)
    close(bk.bmm_freq(dW, dX), REF.bmm_freq(W, X), dtype, "bmm_freq")
    close(bk.bmm_freq_conj_w(dW, dG), REF.bmm_freq_conj_w(W, G), dtype, "bmm_freq_conj_w")
    close(bk.bmm_freq_conj_x_sum(dX, dG), REF.bmm_freq_conj_x_sum(X, G), dtype, "bmm_freq_conj_x_sum")
    x = rng.standard_normal((b, n + 3)).astype(dtype)
    s = rng.choice([-1.0, 1.0], size=n).astype(dtype)
    got = bk.sign_flip(bk.asarray(x)[:, :n], bk.asarray(s))  # a strided view, as in backward
    assert got.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(host(got), x[:, :n] * s)


@needs_gpu
@pytest.mark.parametrize("m", [513, 2049, 32769])
def test_cmul_conj_sum_is_deterministic(m):
    # 513 bins (n = 1024): 33 blocks of 16 x 16 lanes; 32769 (n = 65536): 2049 blocks
    bk, rng = backend("cufft"), np.random.default_rng(0)
    A, B = (bk.asarray(spectra(rng, (1024, m), np.float32)) for _ in range(2))
    first = host(bk.cmul_conj_sum(A, B))
    close(first, REF.cmul_conj_sum(host(A), host(B)), np.float32, "cmul_conj_sum, batch 1024")
    for _ in range(3):
        np.testing.assert_array_equal(host(bk.cmul_conj_sum(A, B)), first)
        np.testing.assert_array_equal(host(bk.cmul_conj_and_sum(A[0], A, B)[1]), first)
    X, G = bk.asarray(spectra(rng, (512, 2, 65), np.float32)), bk.asarray(spectra(rng, (512, 3, 65), np.float32))
    np.testing.assert_array_equal(host(bk.bmm_freq_conj_x_sum(X, G)), host(bk.bmm_freq_conj_x_sum(X, G)))


@needs_gpu
def test_float32_kernels_compile_without_float64():
    """Typed constants: no float32 kernel may contain a double-precision PTX instruction."""
    import re

    from minicirc.backends.cuda.fft import fft_kernels
    from minicirc.backends.cuda.kernels import product_kernels

    bk, rng = backend("own"), np.random.default_rng(1)
    layer = Circulant(64, rng=0, backend=bk)          # compiles the float32 FFT and product kernels
    layer.backward(layer.forward(rng.standard_normal((4, 64))))
    p, q, m = 2, 2, 5
    W, X = bk.asarray(spectra(rng, (p, q, m), np.float32)), bk.asarray(spectra(rng, (3, q, m), np.float32))
    bk.bmm_freq_conj_x_sum(X, bk.bmm_freq(W, X))
    bk.bmm_freq_conj_w(W, bk.bmm_freq(W, X))
    A, R = bk.asarray(spectra(rng, (3, m), np.float32)), bk.asarray(spectra(rng, m, np.float32))
    bk.cmul_conj(R, A), bk.cmul_conj_sum(A, A)         # the layer itself uses the fused kernel
    kernels = dict(vars(product_kernels(np.dtype(np.float32))))
    kernels["rfft_rows"], kernels["irfft_rows"] = fft_kernels(np.dtype(np.float32))
    for name, k in kernels.items():
        asm = k.inspect_asm()
        assert asm, f"{name} was never compiled"
        for sig, ptx in asm.items():
            f64 = sorted(set(re.findall(r"\b\w+(?:\.\w+)*\.f64\b|%fd\d+", ptx)))
            assert not f64, f"{name}{sig}: float64 instructions {f64}"


@needs_gpu
def test_own_fft_refuses_lengths_it_cannot_do():
    bk = backend("own")
    x = bk.asarray(np.zeros((2, 12), np.float32))
    with pytest.raises(ValueError, match="n=12 is not a power of two"):
        bk.rfft(x, 12)
    with pytest.raises(ValueError, match="n=16384 exceeds its limit"):
        bk.rfft(bk.asarray(np.zeros((2, 16384), np.float32)), 16384)


@needs_gpu
@pytest.mark.parametrize("fft", ["cufft", "own"])
def test_runs_on_a_non_default_cupy_stream(fft):
    import cupy

    bk, rng = backend(fft), np.random.default_rng(2)
    x = rng.standard_normal((8, 256)).astype(np.float32)
    ref = Circulant(256, rng=5, backend=REF)
    want = ref.forward(x), ref.backward(x)
    layer = Circulant(256, rng=5, backend=bk)
    # the layer's arrays were copied up on the legacy stream, which a non-blocking one does not
    # wait for: settle them first (training makes its layers long before any such stream)
    cupy.cuda.Stream.null.synchronize()
    with cupy.cuda.Stream(non_blocking=True) as stream:
        assert int(bk._stream()) == stream.ptr        # the kernels really go to the side stream
        got = layer.forward(bk.asarray(x)), layer.backward(bk.asarray(x))
        stream.synchronize()
    for g, w in zip(got, want):
        close(g, w, np.float32, "on a side stream")


# -- layers ----------------------------------------------------------------------
LAYER_CASES = [("cuda", 7, 5), ("cuda", 10, 10), ("cuda", 784, 1000), ("cuda", 1000, 10),
               ("cuda-ownfft", 16, 16), ("cuda-ownfft", 784, 1024), ("cuda-ownfft", 1024, 10),
               ("cuda-ownfft", 4096, 4096)]


def run_layer(layer, x, dy):
    y = layer.forward(x)
    dx = layer.backward(dy)
    return {"y": y, "dx": dx, **{"d" + k: v for k, v in layer.grads.items()}}


def check_against_numpy(make, d_in, d_out, dtype, name, b=17):
    rng = np.random.default_rng(d_in * 7 + d_out)
    ref, dev = make(REF), make(get_backend(name))
    assert dev.backend.name == name
    for k, p in ref.params.items():
        if k == "b":                                 # non-zero biases, as gradcheck uses
            p[...] = rng.standard_normal(p.shape)
            dev.params[k] = dev.backend.asarray(p)
    x = rng.standard_normal((b, d_in)).astype(dtype)
    dy = rng.standard_normal((b, d_out)).astype(dtype)
    want = run_layer(ref, x, dy)
    got = run_layer(dev, dev.backend.asarray(x), dev.backend.asarray(dy))
    assert set(got) == set(want)
    for k in want:
        assert got[k].dtype == np.dtype(dtype), f"{k}: {got[k].dtype}"
        close(got[k], want[k], dtype, f"{name} {k}")


@needs_gpu
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name, d_in, d_out", LAYER_CASES)
def test_circulant_layer(name, d_in, d_out, dtype):
    if name == "cuda-ownfft" and not case_ok("own", max(d_in, d_out), dtype):
        pytest.skip("own FFT float64 limit is 4096")
    check_against_numpy(lambda bk: Circulant(d_in, d_out, rng=11, dtype=dtype, backend=bk),
                        d_in, d_out, dtype, name)


@needs_gpu
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", ["cuda", "cuda-ownfft"])
def test_dense_layer(name, dtype):
    check_against_numpy(lambda bk: Dense(300, 70, rng=3, dtype=dtype, backend=bk), 300, 70, dtype, name)


if hasattr(__import__("minicirc.layers", fromlist=["_"]), "BlockCirculant"):
    from minicirc.layers import BlockCirculant

    @needs_gpu
    @pytest.mark.parametrize("dtype", DTYPES)
    @pytest.mark.parametrize("name, d_in, d_out, k", [("cuda", 784, 1000, 100), ("cuda", 7, 9, 3),
                                                      ("cuda-ownfft", 784, 1024, 256)])
    def test_block_circulant_layer(name, d_in, d_out, k, dtype):
        check_against_numpy(lambda bk: BlockCirculant(d_in, d_out, k, rng=2, dtype=dtype, backend=bk),
                            d_in, d_out, dtype, name)


@needs_gpu
def test_circulant_backward_is_deterministic():
    bk, rng = backend("cufft"), np.random.default_rng(4)
    layer = Circulant(1024, rng=1, backend=bk)
    x, dy = (bk.asarray(rng.standard_normal((256, 1024)).astype(np.float32)) for _ in range(2))
    layer.forward(x)
    layer.backward(dy)
    first = host(layer.grads["r"])
    layer.forward(x)
    layer.backward(dy)
    np.testing.assert_array_equal(host(layer.grads["r"]), first)


@needs_gpu
@pytest.mark.parametrize("fft", ["cufft", "own"])
def test_a_layer_step_does_not_wait_for_the_gpu(fft):
    # Numba synchronises on the stream a CuPy array names unless told not to (the kernels get
    # cuda.as_cuda_array(a, sync=False) views): with a kernel spinning for a second queued
    # first, a whole forward and backward must be queued behind it, not wait for it.
    import time

    import cupy

    bk, rng = backend(fft), np.random.default_rng(5)
    layer = Circulant(256, 200, rng=1, backend=bk)
    x = bk.asarray(rng.standard_normal((8, 256)).astype(np.float32))
    dy = bk.asarray(np.ones((8, 200), np.float32))
    want = host(layer.forward(x)), host(layer.backward(dy))      # compiles every kernel first
    spin = cupy.RawKernel(r"""extern "C" __global__ void spin(long long cycles) {
        long long t0 = clock64(); while (clock64() - t0 < cycles) { } }""", "spin")
    stream = cupy.cuda.get_current_stream()
    stream.synchronize()
    spin((1,), (1,), (np.int64(3_000_000_000),))                 # about a second or more
    start = time.perf_counter()
    y = layer.forward(x)
    dx = layer.backward(dy)
    queued = time.perf_counter() - start
    assert not stream.done, f"the GPU finished the spin within {queued:.3f} s: a launch waited for it"
    np.testing.assert_array_equal(host(y), want[0])
    np.testing.assert_array_equal(host(dx), want[1])


@needs_gpu
def test_finite_checks_are_opt_in_on_the_gpu():
    from minicirc.backends.cuda import CudaBackend
    from minicirc.layers.base import NonFiniteError

    x = np.ones((2, 8), np.float32)
    x[0, 1] = np.inf
    quiet = backend("cufft")
    assert not quiet.check_finite and not quiet.on_host
    assert not np.isfinite(host(Circulant(8, rng=0, backend=quiet).forward(quiet.asarray(x)))[0]).any()
    eager = CudaBackend(check_finite=True)
    with pytest.raises(NonFiniteError, match="input contains NaN or Inf"):
        Circulant(8, rng=0, backend=eager).forward(eager.asarray(x))


# -- without a GPU (these run everywhere) -------------------------------------------
@pytest.mark.skipif(NO_GPU is None, reason="a real GPU is present")
@pytest.mark.parametrize("name", ["cuda", "cuda-ownfft"])
def test_no_gpu_is_a_clear_runtime_error(name):
    with pytest.raises(RuntimeError, match="cuda backend: "):
        get_backend(name)


def test_unknown_fft_is_a_value_error():
    from minicirc.backends.cuda import CudaBackend

    with pytest.raises(ValueError, match="fft must be one of"):
        CudaBackend(fft="fftw")


def test_import_loads_no_gpu_library():
    code = ("import sys, minicirc, minicirc.backends, minicirc.backends.cuda; "
            "bad = [m for m in ('cupy', 'numba.cuda', 'torch') if m in sys.modules]; "
            "assert not bad, bad")
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
