"""Spectral product kernels of the CUDA backend (Numba ``@cuda.jit``) and their launchers.

Complex spectra reach the kernels as real views, ``(..., m)`` complex as ``(..., 2m)`` real
with the real part at ``2f`` and the imaginary part at ``2f + 1``. The kernels then do plain
real arithmetic in the spectrum's own precision: complex64 stays float32 throughout, and the
only constants (accumulator zeros) are typed by the kernel family built for that precision.

The launchers take NumPy arrays (under Numba's CUDA simulator, where a kernel reads host
arrays) or CuPy arrays (on a GPU, read through the CUDA array interface without a copy), and
allocate their output with the same array module. Reductions over the batch give one thread
per output element, which loops over the batch in order -- or, where the output is too short
to occupy the GPU, over one of a few fixed slices of the batch, the slices then added in
order (``batch_slices``). No atomics either way: bit-for-bit repeatable.
"""
from __future__ import annotations

import functools
from types import SimpleNamespace
from typing import Any, Optional, Tuple

import numba
import numpy as np
from numba import cuda

#: Threads per block of the elementwise and reduction kernels.
THREADS = 256
#: A batch reduction aims for at least this many threads (see ``batch_slices``) ...
REDUCE_THREADS = 32768
#: ... but gives each thread at least this many rows of the batch.
REDUCE_MIN_ROWS = 16


# -- array plumbing shared with fft.py ------------------------------------------
def array_module(a: Any) -> Any:
    """``numpy`` for a host array, ``cupy`` for anything else (a CuPy array)."""
    if isinstance(a, np.ndarray):
        return np
    import cupy

    return cupy


def device_view(a: Any) -> Any:
    """What a kernel is handed: host arrays as they are, GPU arrays as Numba device views.

    ``sync=False``: by default Numba synchronises the exporting stream every time it wraps a
    foreign array, which would stall the host at each launch. The launchers run on the stream
    CuPy works on, so stream order already makes the data ready.
    """
    if isinstance(a, np.ndarray):
        # The simulator copies host arguments as one block, as a real launch would; outputs
        # are always allocated contiguous here, so only strided inputs are ever copied.
        return a if a.flags.c_contiguous or a.flags.f_contiguous else np.ascontiguousarray(a)
    if hasattr(a, "__cuda_array_interface__"):
        return cuda.as_cuda_array(a, sync=False)
    return a                                            # a scalar argument


def blocks_for(total: int, threads: int = THREADS) -> int:
    return (total + threads - 1) // threads


def complex_dtype(*arrays: Any) -> np.dtype:
    """complex64 when every input is single precision, else complex128 (NumPy's promotion)."""
    return np.result_type(*[a.dtype for a in arrays], np.complex64)


def real_dtype(cdtype: Any) -> np.dtype:
    return np.dtype(np.float32) if np.dtype(cdtype) == np.complex64 else np.dtype(np.float64)


def as_real_view(a: Any, cdtype: np.dtype) -> Any:
    """A C-contiguous complex array of ``cdtype`` as its interleaved real view."""
    xp = array_module(a)
    return xp.ascontiguousarray(a, dtype=cdtype).view(real_dtype(cdtype))


def _check(cond: bool, what: str, *arrays: Any) -> None:
    if not cond:
        shapes = ", ".join(str(tuple(a.shape)) for a in arrays)
        raise ValueError(f"cuda backend: {what}, got shapes {shapes}")


# -- kernels ---------------------------------------------------------------------
@functools.lru_cache(maxsize=None)
def product_kernels(real: Any) -> SimpleNamespace:
    """The product kernels for one precision (``float32`` or ``float64`` real views)."""
    ft = numba.float32 if np.dtype(real) == np.float32 else numba.float64

    @cuda.jit
    def cmul(A, B, out):
        # out[b, f] = A[b, f] * B[f]
        m = B.shape[0] // 2
        i = cuda.grid(1)
        if i < A.shape[0] * m:
            row = i // m
            f = 2 * (i - row * m)
            ar, ai = A[row, f], A[row, f + 1]
            br, bi = B[f], B[f + 1]
            out[row, f] = ar * br - ai * bi
            out[row, f + 1] = ar * bi + ai * br

    @cuda.jit
    def cmul_conj(A, B, out):
        # out[b, f] = conj(A[f]) * B[b, f]
        m = A.shape[0] // 2
        i = cuda.grid(1)
        if i < B.shape[0] * m:
            row = i // m
            f = 2 * (i - row * m)
            ar, ai = A[f], A[f + 1]
            br, bi = B[row, f], B[row, f + 1]
            out[row, f] = ar * br + ai * bi
            out[row, f + 1] = ar * bi - ai * br

    @cuda.jit
    def cmul_conj_sum(A, B, P, rows):
        # P[c, f] = sum_{b in slice c} conj(A[b, f]) * B[b, f]; one thread per (c, f), rows in order
        m = P.shape[1] // 2
        t = cuda.grid(1)
        if t < P.shape[0] * m:
            c = t // m
            f = 2 * (t - c * m)
            re = ft(0)
            im = ft(0)
            for row in range(c * rows, min(c * rows + rows, A.shape[0])):
                ar, ai = A[row, f], A[row, f + 1]
                br, bi = B[row, f], B[row, f + 1]
                re += ar * br + ai * bi
                im += ar * bi - ai * br
            P[c, f] = re
            P[c, f + 1] = im

    @cuda.jit
    def sum_slices(P, out):
        # out[k] = sum_c P[c, k], c in order: the second pass of a sliced batch reduction
        k = cuda.grid(1)
        if k < out.shape[0]:
            acc = ft(0)
            for c in range(P.shape[0]):
                acc += P[c, k]
            out[k] = acc

    @cuda.jit
    def sign_flip(x, s, out):
        # out[b, k] = s[k] * x[b, k]
        d = s.shape[0]
        i = cuda.grid(1)
        if i < x.shape[0] * d:
            row = i // d
            k = i - row * d
            out[row, k] = s[k] * x[row, k]

    @cuda.jit
    def bmm_freq(W, X, Y):
        # Y[b, i, f] = sum_j W[i, j, f] * X[b, j, f]
        p, q, m = W.shape[0], W.shape[1], W.shape[2] // 2
        t = cuda.grid(1)
        if t < X.shape[0] * p * m:
            f = t % m
            bi_ = t // m
            i = bi_ % p
            b = bi_ // p
            f2 = 2 * f
            re = ft(0)
            im = ft(0)
            for j in range(q):
                wr, wi = W[i, j, f2], W[i, j, f2 + 1]
                xr, xi = X[b, j, f2], X[b, j, f2 + 1]
                re += wr * xr - wi * xi
                im += wr * xi + wi * xr
            Y[b, i, f2] = re
            Y[b, i, f2 + 1] = im

    @cuda.jit
    def bmm_freq_conj_w(W, G, DX):
        # DX[b, j, f] = sum_i conj(W[i, j, f]) * G[b, i, f]
        p, q, m = W.shape[0], W.shape[1], W.shape[2] // 2
        t = cuda.grid(1)
        if t < G.shape[0] * q * m:
            f = t % m
            bj = t // m
            j = bj % q
            b = bj // q
            f2 = 2 * f
            re = ft(0)
            im = ft(0)
            for i in range(p):
                wr, wi = W[i, j, f2], W[i, j, f2 + 1]
                gr, gi = G[b, i, f2], G[b, i, f2 + 1]
                re += wr * gr + wi * gi
                im += wr * gi - wi * gr
            DX[b, j, f2] = re
            DX[b, j, f2 + 1] = im

    @cuda.jit
    def bmm_freq_conj_x_sum(X, G, P, rows):
        # P[c, i, j, f] = sum_{b in slice c} conj(X[b, j, f]) * G[b, i, f]; rows in order, no atomics
        p, q, m = P.shape[1], P.shape[2], P.shape[3] // 2
        t = cuda.grid(1)
        if t < P.shape[0] * p * q * m:
            f = t % m
            u = t // m
            j = u % q
            u = u // q
            i = u % p
            c = u // p
            f2 = 2 * f
            re = ft(0)
            im = ft(0)
            for b in range(c * rows, min(c * rows + rows, X.shape[0])):
                xr, xi = X[b, j, f2], X[b, j, f2 + 1]
                gr, gi = G[b, i, f2], G[b, i, f2 + 1]
                re += xr * gr + xi * gi
                im += xr * gi - xi * gr
            P[c, i, j, f2] = re
            P[c, i, j, f2 + 1] = im

    return SimpleNamespace(cmul=cmul, cmul_conj=cmul_conj, cmul_conj_sum=cmul_conj_sum,
                           sum_slices=sum_slices, sign_flip=sign_flip, bmm_freq=bmm_freq,
                           bmm_freq_conj_w=bmm_freq_conj_w,
                           bmm_freq_conj_x_sum=bmm_freq_conj_x_sum)


# -- launchers -------------------------------------------------------------------
def _batch2d(a: Any) -> Tuple[Any, bool]:
    """A 1-D spectrum as a batch of one; says whether to drop that axis again."""
    return (a[None, :], True) if a.ndim == 1 else (a, False)


def _launch(kernel: Any, total: int, stream: Any, *args: Any) -> None:
    if total > 0:
        kernel[blocks_for(total), THREADS, stream](*[device_view(a) for a in args])


def cmul(A: Any, B: Any, stream: Any = 0) -> Any:
    """``A * B`` for ``A`` (b, m) or (m,) and ``B`` (m,)."""
    A2, squeeze = _batch2d(A)
    _check(A2.ndim == 2 and B.ndim == 1 and A2.shape[1] == B.shape[0],
           "cmul expects A (b, m) and B (m,)", A, B)
    cd = complex_dtype(A, B)
    out = array_module(A).empty(A2.shape, cd)
    _launch(product_kernels(real_dtype(cd)).cmul, A2.size, stream,
            as_real_view(A2, cd), as_real_view(B, cd), out.view(real_dtype(cd)))
    return out[0] if squeeze else out


def cmul_conj(A: Any, B: Any, stream: Any = 0) -> Any:
    """``conj(A) * B`` for ``A`` (m,) and ``B`` (b, m) or (m,)."""
    B2, squeeze = _batch2d(B)
    _check(A.ndim == 1 and B2.ndim == 2 and B2.shape[1] == A.shape[0],
           "cmul_conj expects A (m,) and B (b, m)", A, B)
    cd = complex_dtype(A, B)
    out = array_module(B).empty(B2.shape, cd)
    _launch(product_kernels(real_dtype(cd)).cmul_conj, B2.size, stream,
            as_real_view(A, cd), as_real_view(B2, cd), out.view(real_dtype(cd)))
    return out[0] if squeeze else out


def batch_slices(b: int, width: int, slices: Optional[int] = None) -> Tuple[int, int]:
    """``(slices, rows)``: the batch of ``b`` rows cut into fixed slices of ``rows`` rows.

    A reduction over the batch gives one thread per output element and slice. Where the
    output alone has ``REDUCE_THREADS`` elements, one slice: a thread loops over the whole
    batch. A short output (a small ``n``) would leave most of the GPU idle while a few
    threads loop over a long batch, so the batch is cut into slices of at least
    ``REDUCE_MIN_ROWS`` rows, summed separately, then in slice order. The cut depends only
    on the shapes, so every run adds in the same order: still deterministic, no atomics.
    """
    if slices is None:
        slices = 1 if width >= REDUCE_THREADS else min(-(-REDUCE_THREADS // width), b // REDUCE_MIN_ROWS)
    slices = max(1, min(int(slices), b))
    rows = -(-b // slices)
    return -(-b // rows), rows


def cmul_conj_sum(A: Any, B: Any, stream: Any = 0, slices: Optional[int] = None) -> Any:
    """``sum_b conj(A[b]) * B[b]`` for ``A``, ``B`` (b, m): one spectrum (m,).

    ``slices`` overrides ``batch_slices``' choice (for tests).
    """
    A2, _ = _batch2d(A)
    B2, _ = _batch2d(B)
    _check(A2.ndim == 2 and A2.shape == B2.shape, "cmul_conj_sum expects A and B of one shape (b, m)", A, B)
    cd = complex_dtype(A, B)
    xp = array_module(A)
    b, m = A2.shape
    if b == 0:
        return xp.zeros(m, cd)
    real = real_dtype(cd)
    ns, rows = batch_slices(b, m, slices)
    kernels = product_kernels(real)
    P = xp.empty((ns, 2 * m), real)
    _launch(kernels.cmul_conj_sum, ns * m, stream, as_real_view(A2, cd), as_real_view(B2, cd), P, rows)
    return _add_slices(kernels, P, stream).view(cd)


def _add_slices(kernels: Any, P: Any, stream: Any) -> Any:
    """``P.sum(axis=0)`` for partial sums (slices, ...), slice by slice in order."""
    if P.shape[0] == 1:
        return P[0]
    out = array_module(P).empty(P.shape[1:], P.dtype)
    width = out.size
    _launch(kernels.sum_slices, width, stream, P.reshape(P.shape[0], width), out.reshape(width))
    return out


def sign_flip(x: Any, s: Any, stream: Any = 0) -> Any:
    """``s * x`` for ``x`` (b, d) or (d,) and ``s`` (d,); ``x`` may be a strided view."""
    x2, squeeze = _batch2d(x)
    _check(x2.ndim == 2 and s.ndim == 1 and x2.shape[1] == s.shape[0],
           "sign_flip expects x (b, d) and s (d,)", x, s)
    xp = array_module(x)
    dt = np.result_type(x.dtype, s.dtype)
    if dt.kind != "f":
        return x * s
    # The kernel reads any strides, so a cropped view needs no copy; only dtypes are matched.
    x2 = x2 if x2.dtype == dt else x2.astype(dt)
    s = s if s.dtype == dt else s.astype(dt)
    out = xp.empty(x2.shape, dt)
    _launch(product_kernels(dt).sign_flip, x2.size, stream, x2, s, out)
    return out[0] if squeeze else out


def bmm_freq(W: Any, X: Any, stream: Any = 0) -> Any:
    """``Y[b, i, f] = sum_j W[i, j, f] X[b, j, f]`` for ``W`` (p, q, m), ``X`` (b, q, m)."""
    _check(W.ndim == 3 and X.ndim == 3 and X.shape[1:] == W.shape[1:],
           "bmm_freq expects W (p, q, m) and X (b, q, m)", W, X)
    cd = complex_dtype(W, X)
    (p, _, m), b = W.shape, X.shape[0]
    out = array_module(X).empty((b, p, m), cd)
    _launch(product_kernels(real_dtype(cd)).bmm_freq, b * p * m, stream,
            as_real_view(W, cd), as_real_view(X, cd), out.view(real_dtype(cd)))
    return out


def bmm_freq_conj_w(W: Any, G: Any, stream: Any = 0) -> Any:
    """``DX[b, j, f] = sum_i conj(W[i, j, f]) G[b, i, f]`` for ``W`` (p, q, m), ``G`` (b, p, m)."""
    _check(W.ndim == 3 and G.ndim == 3 and G.shape[1] == W.shape[0] and G.shape[2] == W.shape[2],
           "bmm_freq_conj_w expects W (p, q, m) and G (b, p, m)", W, G)
    cd = complex_dtype(W, G)
    (_, q, m), b = W.shape, G.shape[0]
    out = array_module(G).empty((b, q, m), cd)
    _launch(product_kernels(real_dtype(cd)).bmm_freq_conj_w, b * q * m, stream,
            as_real_view(W, cd), as_real_view(G, cd), out.view(real_dtype(cd)))
    return out


def bmm_freq_conj_x_sum(X: Any, G: Any, stream: Any = 0, slices: Optional[int] = None) -> Any:
    """``DW[i, j, f] = sum_b conj(X[b, j, f]) G[b, i, f]`` for ``X`` (b, q, m), ``G`` (b, p, m)."""
    _check(X.ndim == 3 and G.ndim == 3 and X.shape[0] == G.shape[0] and X.shape[2] == G.shape[2],
           "bmm_freq_conj_x_sum expects X (b, q, m) and G (b, p, m)", X, G)
    cd = complex_dtype(X, G)
    (b, q, m), p = X.shape, G.shape[1]
    xp = array_module(X)
    if b == 0:
        return xp.zeros((p, q, m), cd)
    real = real_dtype(cd)
    ns, rows = batch_slices(b, p * q * m, slices)
    kernels = product_kernels(real)
    P = xp.empty((ns, p, q, 2 * m), real)
    _launch(kernels.bmm_freq_conj_x_sum, ns * p * q * m, stream,
            as_real_view(X, cd), as_real_view(G, cd), P, rows)
    return _add_slices(kernels, P, stream).view(cd)
