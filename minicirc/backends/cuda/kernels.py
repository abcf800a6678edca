"""Spectral product kernels of the CUDA backend (Numba ``@cuda.jit``) and their launchers.

Complex spectra reach the kernels as real views, ``(..., m)`` complex as ``(..., 2m)`` real
with the real part at ``2f`` and the imaginary part at ``2f + 1``. The kernels then do plain
real arithmetic in the spectrum's own precision: complex64 stays float32 throughout, and the
only constants (accumulator zeros) are typed by the kernel family built for that precision.

The launchers take NumPy arrays (under Numba's CUDA simulator, where a kernel reads host
arrays) or CuPy arrays (on a GPU, read in place without a copy), allocate their output with
the same array module, and launch through Numba's dispatcher (``launch``). A reduction over
the batch is one launch: a block of ``REDUCE_LANES x REDUCE_COLS`` threads owns
``REDUCE_COLS`` output elements; lane ``l`` adds rows ``l, l + REDUCE_LANES, ...`` in order,
and the lanes' sums are then added by a fixed tree in shared memory. The order depends only on
the batch size: no atomics, bit-for-bit repeatable.
"""
from __future__ import annotations

import functools
from types import SimpleNamespace
from typing import Any, Tuple

import numba
import numpy as np
from numba import cuda

from ..base import array_module

#: Threads per block of the elementwise kernels.
THREADS = 256
#: A batch reduction's block: REDUCE_COLS output elements, each summed by REDUCE_LANES threads
#: (a power of two, for the tree). 16 x 16 keeps a warp's loads on 16 adjacent complex bins.
REDUCE_LANES = 16
REDUCE_COLS = 16


# -- launching, and array plumbing shared with fft.py ------------------------------
def launch(kernel: Any, blocks: Tuple[int, int, int], threads: Tuple[int, int, int], stream: Any,
           shared: int, *args: Any) -> None:
    """``kernel[blocks, threads, stream, shared](*args)``: Numba's own launch.

    A CuPy array goes in as Numba's view of it, ``cuda.as_cuda_array(a, sync=False)``. Handed
    over as it is, Numba would synchronise on the stream CuPy names in the array's
    ``__cuda_array_interface__`` (what that interface asks of a consumer by default): a host
    wait at every launch. The kernels run on ``stream``, which the CUDA backend makes CuPy's
    current stream, so they follow CuPy's work in order without that wait. A host array
    (Numba's CUDA simulator) goes in contiguous, as the simulator copies it as one block.
    Scalars pass through.
    """
    kernel[blocks, threads, stream, shared](*[kernel_arg(a) for a in args])


def kernel_arg(a: Any) -> Any:
    """``a`` as ``launch`` hands it to a kernel (see there)."""
    if isinstance(a, np.ndarray):
        return a if a.flags.c_contiguous or a.flags.f_contiguous else np.ascontiguousarray(a)
    if hasattr(a, "__cuda_array_interface__"):
        return cuda.as_cuda_array(a, sync=False)
    return a


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
def product_kernels(real: Any, lanes: int = REDUCE_LANES, cols: int = REDUCE_COLS) -> SimpleNamespace:
    """The product kernels for one precision (``float32`` or ``float64`` real views).

    ``lanes`` (a power of two) and ``cols`` shape the batch reductions' blocks; the defaults
    are the GPU's, other values are for tests. One family per distinct value, however named.
    """
    return _product_kernels(np.dtype(real), int(lanes), int(cols))


@functools.lru_cache(maxsize=None)
def _product_kernels(real: np.dtype, lanes: int, cols: int) -> SimpleNamespace:
    ft = numba.float32 if np.dtype(real) == np.float32 else numba.float64
    if lanes < 1 or lanes & (lanes - 1):
        raise ValueError(f"cuda backend: reduction lanes must be a power of two, got {lanes}")
    LANES, COLS = int(lanes), int(cols)
    NSHARED = LANES * COLS          # a plain constant: Numba needs one for a shared array's size

    @cuda.jit(device=True)
    def lanes_sum(sre, sim, re, im, c, lane):
        # Every thread of the block calls this (it has barriers): lane ``lane`` of column ``c``
        # puts its partial sum (re, im) in shared memory, then a fixed tree adds the lanes'
        # sums into row 0, sre[c] and sim[c]. The order depends only on LANES: repeatable.
        k = lane * COLS + c
        sre[k] = re
        sim[k] = im
        cuda.syncthreads()
        h = LANES // 2
        while h > 0:
            if lane < h:
                sre[k] = sre[k] + sre[k + h * COLS]
                sim[k] = sim[k] + sim[k + h * COLS]
            cuda.syncthreads()
            h //= 2

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
    def cmul_conj_sum(A, B, out):
        # out[f] = sum_b conj(A[b, f]) * B[b, f]. Block (REDUCE_COLS, REDUCE_LANES): thread
        # (c, l) sums rows l, l + LANES, ... of bin blockIdx.x * COLS + c in order, then the
        # lanes' sums are added by a fixed tree in shared memory. No atomics: repeatable.
        sre = cuda.shared.array(NSHARED, dtype=ft)
        sim = cuda.shared.array(NSHARED, dtype=ft)
        m = out.shape[0] // 2
        c = cuda.threadIdx.x
        lane = cuda.threadIdx.y
        col = cuda.blockIdx.x * COLS + c
        re = ft(0)
        im = ft(0)
        if col < m:
            f = 2 * col
            for row in range(lane, A.shape[0], LANES):
                ar, ai = A[row, f], A[row, f + 1]
                br, bi = B[row, f], B[row, f + 1]
                re += ar * br + ai * bi
                im += ar * bi - ai * br
        lanes_sum(sre, sim, re, im, c, lane)
        if lane == 0 and col < m:
            out[2 * col] = sre[c]
            out[2 * col + 1] = sim[c]

    @cuda.jit
    def cmul_conj_and_sum(R, U, G, RG, UG):
        # RG[b, f] = conj(R[f]) * G[b, f] and UG[f] = sum_b conj(U[b, f]) * G[b, f]: the two
        # products of the circulant backward, eqs. (C3) and (C2), in one pass over G. Blocks
        # and the order of the sum are cmul_conj_sum's, so UG is bit-for-bit the same.
        sre = cuda.shared.array(NSHARED, dtype=ft)
        sim = cuda.shared.array(NSHARED, dtype=ft)
        m = UG.shape[0] // 2
        c = cuda.threadIdx.x
        lane = cuda.threadIdx.y
        col = cuda.blockIdx.x * COLS + c
        re = ft(0)
        im = ft(0)
        if col < m:
            f = 2 * col
            rr, ri = R[f], R[f + 1]
            for row in range(lane, G.shape[0], LANES):
                gr, gi = G[row, f], G[row, f + 1]
                ur, ui = U[row, f], U[row, f + 1]
                RG[row, f] = rr * gr + ri * gi
                RG[row, f + 1] = rr * gi - ri * gr
                re += ur * gr + ui * gi
                im += ur * gi - ui * gr
        lanes_sum(sre, sim, re, im, c, lane)
        if lane == 0 and col < m:
            UG[2 * col] = sre[c]
            UG[2 * col + 1] = sim[c]

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
    def bmm_freq_conj_x_sum(X, G, DW):
        # DW[i, j, f] = sum_b conj(X[b, j, f]) * G[b, i, f]; one output element (i, j, f) per
        # column of the block, rows over lanes and a fixed tree, as in cmul_conj_sum
        sre = cuda.shared.array(NSHARED, dtype=ft)
        sim = cuda.shared.array(NSHARED, dtype=ft)
        p, q, m = DW.shape[0], DW.shape[1], DW.shape[2] // 2
        c = cuda.threadIdx.x
        lane = cuda.threadIdx.y
        t = cuda.blockIdx.x * COLS + c
        f = t % m
        u = t // m
        j = u % q
        i = u // q
        f2 = 2 * f
        re = ft(0)
        im = ft(0)
        if t < p * q * m:
            for b in range(lane, X.shape[0], LANES):
                xr, xi = X[b, j, f2], X[b, j, f2 + 1]
                gr, gi = G[b, i, f2], G[b, i, f2 + 1]
                re += xr * gr + xi * gi
                im += xr * gi - xi * gr
        lanes_sum(sre, sim, re, im, c, lane)
        if lane == 0 and t < p * q * m:
            DW[i, j, f2] = sre[c]
            DW[i, j, f2 + 1] = sim[c]

    return SimpleNamespace(cmul=cmul, cmul_conj=cmul_conj, cmul_conj_sum=cmul_conj_sum,
                           cmul_conj_and_sum=cmul_conj_and_sum, sign_flip=sign_flip, bmm_freq=bmm_freq,
                           bmm_freq_conj_w=bmm_freq_conj_w,
                           bmm_freq_conj_x_sum=bmm_freq_conj_x_sum)


# -- launchers -------------------------------------------------------------------
def _batch2d(a: Any) -> Tuple[Any, bool]:
    """A 1-D spectrum as a batch of one; says whether to drop that axis again."""
    return (a[None, :], True) if a.ndim == 1 else (a, False)


def _launch(kernel: Any, total: int, stream: Any, *args: Any) -> None:
    """One thread per element of ``total``, ``THREADS`` to a block."""
    if total > 0:
        launch(kernel, (blocks_for(total), 1, 1), (THREADS, 1, 1), stream, 0, *args)


def _launch_reduction(kernel: Any, width: int, stream: Any, lanes: int, cols: int, *args: Any) -> None:
    """A batch reduction with ``width`` output elements: ``cols`` of them per block of ``cols x lanes``."""
    if width > 0:
        launch(kernel, ((width + cols - 1) // cols, 1, 1), (cols, lanes, 1), stream, 0, *args)


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


def cmul_conj_sum(A: Any, B: Any, stream: Any = 0, lanes: int = REDUCE_LANES,
                  cols: int = REDUCE_COLS) -> Any:
    """``sum_b conj(A[b]) * B[b]`` for ``A``, ``B`` (b, m): one spectrum (m,), in one launch.

    ``lanes`` and ``cols`` override the reduction's block shape (for tests).
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
    out = xp.empty(m, cd)
    _launch_reduction(product_kernels(real, lanes, cols).cmul_conj_sum, m, stream, lanes, cols,
                      as_real_view(A2, cd), as_real_view(B2, cd), out.view(real))
    return out


def cmul_conj_and_sum(R: Any, U: Any, G: Any, stream: Any = 0, lanes: int = REDUCE_LANES,
                      cols: int = REDUCE_COLS) -> Tuple[Any, Any]:
    """``(conj(R) * G, sum_b conj(U[b]) * G[b])`` for ``R`` (m,), ``U`` and ``G`` (b, m), in one launch."""
    U2, _ = _batch2d(U)
    G2, squeeze = _batch2d(G)
    _check(R.ndim == 1 and U2.ndim == 2 and U2.shape == G2.shape and G2.shape[1] == R.shape[0],
           "cmul_conj_and_sum expects R (m,), U and G of one shape (b, m)", R, U, G)
    cd = complex_dtype(R, U, G)
    xp = array_module(G)
    b, m = G2.shape
    RG = xp.empty((b, m), cd)
    if b == 0:
        return RG, xp.zeros(m, cd)
    real = real_dtype(cd)
    UG = xp.empty(m, cd)
    _launch_reduction(product_kernels(real, lanes, cols).cmul_conj_and_sum, m, stream, lanes, cols,
                      as_real_view(R, cd), as_real_view(U2, cd), as_real_view(G2, cd),
                      RG.view(real), UG.view(real))
    return (RG[0] if squeeze else RG), UG


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


def bmm_freq_conj_x_sum(X: Any, G: Any, stream: Any = 0, lanes: int = REDUCE_LANES,
                        cols: int = REDUCE_COLS) -> Any:
    """``DW[i, j, f] = sum_b conj(X[b, j, f]) G[b, i, f]`` for ``X`` (b, q, m), ``G`` (b, p, m), in one launch."""
    _check(X.ndim == 3 and G.ndim == 3 and X.shape[0] == G.shape[0] and X.shape[2] == G.shape[2],
           "bmm_freq_conj_x_sum expects X (b, q, m) and G (b, p, m)", X, G)
    cd = complex_dtype(X, G)
    (b, q, m), p = X.shape, G.shape[1]
    xp = array_module(X)
    if b == 0:
        return xp.zeros((p, q, m), cd)
    real = real_dtype(cd)
    out = xp.empty((p, q, m), cd)
    _launch_reduction(product_kernels(real, lanes, cols).bmm_freq_conj_x_sum, p * q * m, stream, lanes, cols,
                      as_real_view(X, cd), as_real_view(G, cd), out.view(real))
    return out
