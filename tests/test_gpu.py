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


# -- the captured training step (philox.py, fused.py, plan.py, graph.py) -----------
def graph_mlp(bk, dropout=0.1, seed=0):
    from minicirc.mnist.models import architecture, build_mlp

    arch = architecture("circulant", hidden=128, layers=2, dropout=dropout, d_in=64, classes=10)
    return build_mlp(arch, seed=seed, backend=bk)


def graph_batches(count, sizes=(32,), seed=1):
    import cupy

    rng = np.random.default_rng(seed)
    return [(cupy.asarray(rng.standard_normal((b, 64)).astype(np.float32)), cupy.asarray(rng.integers(0, 10, b)))
            for b in (sizes[k % len(sizes)] for k in range(count))]


def graph_step(model, seed=7, opt=None, total=100, schedule="cosine"):
    from minicirc import AdamW
    from minicirc.backends.cuda.graph import GraphStep
    from minicirc.backends.cuda.plan import StepPlan

    opt = opt or AdamW(model, lr=5e-3, weight_decay=0.1)
    return GraphStep(StepPlan(model, opt, seed=seed, schedule=schedule, base_lr=5e-3, total=total))


def flat_host(model):
    return np.concatenate([host(p).ravel() for p in model.parameters()])


@needs_gpu
def test_philox_kernel_equals_the_reference_on_the_gpu():
    import cupy

    from minicirc.backends.cuda import philox

    for size, seed, step, layer in [(4097, 0, 0, 0), (1001, 2**64 - 1, 2**40 + 3, 5)]:
        got = philox.mask_words(size, seed, layer, cupy.asarray(np.array([step], np.int64)))
        np.testing.assert_array_equal(host(got), philox.mask_words_reference(seed, step, layer, size))


@needs_gpu
@pytest.mark.parametrize("dtype", DTYPES)
def test_fused_kernels_on_the_gpu(dtype):
    import cupy

    from minicirc.backends.cuda import fused

    rng = np.random.default_rng(8)
    z, dy = (rng.standard_normal((37, 21)).astype(dtype) for _ in range(2))
    bias = rng.standard_normal(21).astype(dtype)
    step = cupy.asarray(np.array([9], np.int64))
    y, m = fused.bias_relu_dropout(cupy.asarray(z), cupy.asarray(bias), 0.3, 4, 2, step)
    ry, rm = fused.bias_relu_dropout_reference(z, bias, 0.3, 4, 2, 9)
    np.testing.assert_array_equal(host(y), ry)
    np.testing.assert_array_equal(host(m), rm)
    dz, db = fused.relu_dropout_backward(cupy.asarray(dy), m)
    rdz, rdb = fused.relu_dropout_backward_reference(dy, rm)
    np.testing.assert_array_equal(host(dz), rdz)
    close(db, rdb, dtype, "db")
    s = rng.choice([-1.0, 1.0], 40).astype(dtype)
    np.testing.assert_array_equal(host(fused.pad_flip(cupy.asarray(z), cupy.asarray(s), 40)),
                                  fused.pad_flip_reference(z, s, 40))


@needs_gpu
@pytest.mark.parametrize("make", ["adamw", "sgd"])
def test_fused_update_steps_as_minicirc_optim_on_the_gpu(make):
    import cupy

    from minicirc import SGD, AdamW
    from minicirc.backends.cuda import fused

    ref = Dense(30, 20, rng=0, backend=REF)
    opt = AdamW(ref, lr=0.01, weight_decay=0.1) if make == "adamw" else SGD(ref, lr=0.1, momentum=0.9, nesterov=True)
    p = cupy.asarray(np.concatenate([ref.params["W"].ravel(), ref.params["b"]]))
    state = [cupy.zeros_like(p) for _ in range(2)]
    lr, t = cupy.zeros(1, np.float64), cupy.zeros(1, np.int64)
    rng = np.random.default_rng(3)
    for k in range(5):
        ref.grads = {"W": rng.standard_normal((30, 20)).astype(np.float32), "b": rng.standard_normal(20).astype(np.float32)}
        g = cupy.asarray(np.concatenate([ref.grads["W"].ravel(), ref.grads["b"]]))
        opt.step()
        lr[...] = opt.lr
        if make == "adamw":
            fused.adam_update(p, g, state[0], state[1], lr, t, betas=(opt.b1, opt.b2), eps=opt.eps,
                              weight_decay=opt.weight_decay, decoupled=True)
        else:
            fused.sgd_update(p, g, state[0], lr, momentum=opt.momentum, nesterov=True, weight_decay=0.0)
        t += 1
    # to rounding: the GPU may contract a multiply and an add into one FMA
    close(p, np.concatenate([ref.params["W"].ravel(), ref.params["b"]]), np.float32, make)


@needs_gpu
def test_graph_replay_equals_the_uncaptured_step_over_100_steps():
    bk = backend("cufft")
    data = graph_batches(100, sizes=(32, 20))           # two batch sizes: two graphs
    graphed, eager = graph_mlp(bk), graph_mlp(bk)
    g, e = graph_step(graphed), graph_step(eager)
    for x, t in data:
        g.step(x, t)
        e.eager_step(x, t)
    assert g.batch_sizes == [20, 32]
    got, want = flat_host(graphed), flat_host(eager)
    diff = float(np.abs(got - want).max() / np.abs(want).max())
    assert diff < 1e-5, f"graph vs uncaptured: relative difference {diff:.2e}"
    (lg, eg), (le, ee) = g.read_metrics(), e.read_metrics()
    assert eg == ee and abs(lg - le) <= 1e-5 * abs(le)
    assert g.plan.steps_taken() == 100


@needs_gpu
def test_graph_step_agrees_with_minicirc_eager_training_without_dropout():
    from minicirc import AdamW, SoftmaxCrossEntropy
    from minicirc.optim import cosine_lr

    bk = backend("cufft")
    data = graph_batches(20)
    ref, dev = graph_mlp(bk, dropout=0.0), graph_mlp(bk, dropout=0.0)
    opt, loss = AdamW(ref, lr=5e-3, weight_decay=0.1), SoftmaxCrossEntropy(check_labels=False)
    for k, (x, t) in enumerate(data):
        opt.lr = cosine_lr(5e-3, k, 100)
        loss.forward(ref.forward(x), t)
        ref.backward(loss.backward())
        opt.step()
    g = graph_step(dev)
    for x, t in data:
        g.step(x, t)
    g.read_metrics()
    close(flat_host(dev), flat_host(ref), np.float32, "graph vs the layers' eager step")


@needs_gpu
def test_resume_after_an_interrupted_graph_run_is_bit_exact():
    from minicirc import AdamW

    bk = backend("cufft")
    data = graph_batches(30, sizes=(32, 20))
    whole = graph_mlp(bk)
    g = graph_step(whole)
    for x, t in data:
        g.step(x, t)
    g.read_metrics()

    first = graph_mlp(bk)
    g1 = graph_step(first)
    for x, t in data[:12]:
        g1.step(x, t)
    state = {k: np.array(v) for k, v in g1.export().state_arrays().items()}   # what a checkpoint holds
    params = {n: host(p).copy() for n, p in first.named_parameters()}
    del g1, first

    second = graph_mlp(bk)
    for n, p in second.named_parameters():
        p[...] = bk.asarray(params[n])
    opt = AdamW(second, lr=5e-3, weight_decay=0.1)
    opt.load_state_arrays(state, asarray=bk.asarray)
    g2 = graph_step(second, opt=opt)
    for x, t in data[12:]:
        g2.step(x, t)
    g2.read_metrics()
    np.testing.assert_array_equal(flat_host(second), flat_host(whole))


@needs_gpu
def test_dropout_masks_are_reproducible_by_seed_on_the_gpu():
    bk = backend("cufft")
    data = graph_batches(5)
    runs = []
    for seed in (3, 3, 4):
        model = graph_mlp(bk, dropout=0.5)
        g = graph_step(model, seed=seed)
        for x, t in data:
            g.step(x, t)
        g.read_metrics()
        runs.append(flat_host(model))
    np.testing.assert_array_equal(runs[0], runs[1])
    assert not np.array_equal(runs[0], runs[2])


@needs_gpu
def test_a_graph_step_does_not_wait_for_the_gpu():
    import time

    import cupy

    bk = backend("cufft")
    g = graph_step(graph_mlp(bk))
    x, t = graph_batches(1)[0]
    g.step(x, t)                                           # captures
    g.read_metrics()
    spin = cupy.RawKernel(r"""extern "C" __global__ void spin(long long cycles) {
        long long t0 = clock64(); while (clock64() - t0 < cycles) { } }""", "spin")
    stream = cupy.cuda.get_current_stream()
    spin((1,), (1,), (np.int64(3_000_000_000),))
    start = time.perf_counter()
    for _ in range(10):
        g.step(x, t)
    queued = time.perf_counter() - start
    assert not stream.done and not g.stream.done, f"10 steps took {queued:.3f} s and the spin is over: a step waited"
    g.read_metrics()


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
