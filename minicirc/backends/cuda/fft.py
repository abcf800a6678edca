"""A self-contained real FFT in ``numba.cuda``: Stockham auto-sort, radix 4 (and one radix-2
stage when log2 of the length is odd), in shared memory, one thread block per row.

A real row ``x`` of even length ``n`` is packed into ``N = n / 2`` complex samples
``z[k] = x[2k] + i x[2k+1]`` so that one complex FFT of half the length does the work, and
shared memory holds ``N`` complex samples, not ``n``. With ``Z = FFT_N(z)``, the even and odd
samples' spectra are ``E[k] = (Z[k] + conj Z[N-k]) / 2`` and ``O[k] = (Z[k] - conj Z[N-k]) / 2i``,
and ``X[k] = E[k] + w^k O[k]`` for ``k = 0..N`` with ``w = exp(-2 pi i / n)``. The inverse runs
the same steps backwards: ``E = (X[k] + conj X[N-k]) / 2``, ``O = (X[k] - conj X[N-k]) w^-k / 2``,
``z = IFFT_N(E + i O)`` (the 1/N here is the whole 1/n of ``irfft``), ``x[2k] + i x[2k+1] = z[k]``.
The inverse FFT is the forward one on conjugated data, so there is one set of stages.

Stockham stage with radix ``R`` and sub-transform length ``Ns`` (1, then R, R^2, ... up to N)::

    for each butterfly j < N/R:  k = j mod Ns
        v[r] = d[j + r N/R] * w_N^(r k N / (Ns R))       r = 0..R-1
        v = DFT_R(v)
        d'[(j div Ns) Ns R + k + r Ns] = v[r]            (the output lands in natural order)

Each thread holds its butterfly's four samples in registers between two barriers, so one
shared buffer of ``N`` complex samples serves as both ``d`` and ``d'``. The twiddles are one
table of ``exp(-2 pi i t / n)``, ``t < n``, computed in float64 on the host and rounded to the
row's precision: ``w_N^t`` is entry ``2t``, the packing's ``w^k`` entry ``k``.

Limits: ``n`` a power of two (``ValueError`` otherwise); ``N / 4 <= 1024`` threads per block and
``2 N`` reals of shared memory within ``SHARED_BYTES``, so ``n <= 8192`` in float32 and
``n <= 4096`` in float64 (``max_n``).
"""
from __future__ import annotations

import functools
from typing import Any, Dict, Tuple

import numba
import numpy as np
from numba import cuda

from ..base import array_module
from .kernels import complex_dtype, launch, real_dtype

#: Shared memory a block may use without an opt-in on every CUDA GPU since Kepler.
SHARED_BYTES = 48 * 1024
#: Threads per block; one radix-4 butterfly per thread and stage.
MAX_THREADS = 1024


def max_n(dtype: Any, shared_bytes: int = SHARED_BYTES) -> int:
    """The largest real transform length the kernel takes for ``dtype`` (float or complex)."""
    itemsize = real_dtype(complex_dtype(np.empty(0, dtype))).itemsize
    N = 1
    while 2 * N <= 4 * MAX_THREADS and 2 * (2 * N) * itemsize <= shared_bytes:
        N *= 2
    return 2 * N


def _is_pow2(n: int) -> bool:
    return n >= 1 and (n & (n - 1)) == 0


def check_n(n: int, dtype: Any) -> None:
    """Raise ``ValueError`` naming ``n`` unless the own FFT can do length ``n`` in ``dtype``."""
    if not isinstance(n, (int, np.integer)) or isinstance(n, bool) or not _is_pow2(int(n)):
        raise ValueError(f"own CUDA FFT: n={n!r} is not a power of two; it handles power-of-two "
                         f"lengths only (use fft='cufft' for any n)")
    limit = max_n(dtype)
    if n > limit:
        raise ValueError(f"own CUDA FFT: n={n} exceeds its limit of {limit} for {np.dtype(dtype).name} "
                         f"(one block per row: {MAX_THREADS} threads, {SHARED_BYTES // 1024} KiB of shared "
                         f"memory); use fft='cufft' for larger n")


@functools.lru_cache(maxsize=None)
def fft_kernels(real: Any) -> Tuple[Any, Any]:
    """The (rfft, irfft) row kernels for one precision."""
    ft = numba.float32 if np.dtype(real) == np.float32 else numba.float64

    @cuda.jit(device=True)
    def stages(sm, N, twr, twi, tid, nthreads):
        # In-place forward complex FFT of sm[0:N] + i sm[N:2N]; ends after a barrier.
        Ns = 1
        lg = 0
        while (1 << lg) < N:
            lg += 1
        if lg % 2 == 1:
            # One radix-2 stage (Ns = 1, no twiddles); each thread takes butterflies tid, tid + T.
            h = N // 2
            j0 = tid
            j1 = tid + nthreads
            a0r = ft(0)
            a0i = ft(0)
            b0r = ft(0)
            b0i = ft(0)
            a1r = ft(0)
            a1i = ft(0)
            b1r = ft(0)
            b1i = ft(0)
            if j0 < h:
                a0r, a0i, b0r, b0i = sm[j0], sm[N + j0], sm[j0 + h], sm[N + j0 + h]
            if j1 < h:
                a1r, a1i, b1r, b1i = sm[j1], sm[N + j1], sm[j1 + h], sm[N + j1 + h]
            cuda.syncthreads()
            if j0 < h:
                sm[2 * j0], sm[N + 2 * j0] = a0r + b0r, a0i + b0i
                sm[2 * j0 + 1], sm[N + 2 * j0 + 1] = a0r - b0r, a0i - b0i
            if j1 < h:
                sm[2 * j1], sm[N + 2 * j1] = a1r + b1r, a1i + b1i
                sm[2 * j1 + 1], sm[N + 2 * j1 + 1] = a1r - b1r, a1i - b1i
            cuda.syncthreads()
            Ns = 2
        q = N // 4
        j = tid
        while Ns < N:
            y0r = ft(0)
            y0i = ft(0)
            y1r = ft(0)
            y1i = ft(0)
            y2r = ft(0)
            y2i = ft(0)
            y3r = ft(0)
            y3i = ft(0)
            k = j & (Ns - 1)
            if j < q:
                v0r, v0i = sm[j], sm[N + j]
                v1r, v1i = sm[j + q], sm[N + j + q]
                v2r, v2i = sm[j + 2 * q], sm[N + j + 2 * q]
                v3r, v3i = sm[j + 3 * q], sm[N + j + 3 * q]
                if k > 0:
                    t = 2 * k * (N // (4 * Ns))       # w_N^(k N / 4Ns) is table entry 2 k N / 4Ns
                    wr, wi = twr[t], twi[t]
                    v1r, v1i = v1r * wr - v1i * wi, v1r * wi + v1i * wr
                    wr, wi = twr[2 * t], twi[2 * t]
                    v2r, v2i = v2r * wr - v2i * wi, v2r * wi + v2i * wr
                    wr, wi = twr[3 * t], twi[3 * t]
                    v3r, v3i = v3r * wr - v3i * wi, v3r * wi + v3i * wr
                # DFT_4: X1 = (v0 - v2) - i (v1 - v3), X3 = (v0 - v2) + i (v1 - v3)
                ar, ai = v0r + v2r, v0i + v2i
                br, bi = v0r - v2r, v0i - v2i
                cr, ci = v1r + v3r, v1i + v3i
                dr, di = v1r - v3r, v1i - v3i
                y0r, y0i = ar + cr, ai + ci
                y2r, y2i = ar - cr, ai - ci
                y1r, y1i = br + di, bi - dr
                y3r, y3i = br - di, bi + dr
            cuda.syncthreads()
            if j < q:
                o = (j // Ns) * Ns * 4 + k
                sm[o], sm[N + o] = y0r, y0i
                sm[o + Ns], sm[N + o + Ns] = y1r, y1i
                sm[o + 2 * Ns], sm[N + o + 2 * Ns] = y2r, y2i
                sm[o + 3 * Ns], sm[N + o + 3 * Ns] = y3r, y3i
            cuda.syncthreads()
            Ns *= 4

    @cuda.jit
    def rfft_rows(x, twr, twi, out):
        # out[row] (interleaved re/im, n/2 + 1 bins) = rfft(x[row] zero-padded or cropped to n).
        # n comes from out's shape, 2 (n/2 + 1) reals.
        sm = cuda.shared.array(0, dtype=ft)
        row = cuda.blockIdx.x
        tid = cuda.threadIdx.x
        nthreads = cuda.blockDim.x
        N = out.shape[1] // 2 - 1
        n = 2 * N
        d = min(x.shape[1], n)
        for k in range(tid, N, nthreads):
            e = 2 * k
            sm[k] = x[row, e] if e < d else ft(0)
            sm[N + k] = x[row, e + 1] if e + 1 < d else ft(0)
        cuda.syncthreads()
        stages(sm, N, twr, twi, tid, nthreads)
        half = ft(0.5)
        for k in range(tid, N + 1, nthreads):
            k1 = k if k < N else 0
            k2 = N - k if k > 0 else 0
            zr, zi = sm[k1], sm[N + k1]
            cr, ci = sm[k2], -sm[N + k2]                  # conj Z[N - k]
            er, ei = (zr + cr) * half, (zi + ci) * half
            orr, oi = (zi - ci) * half, (cr - zr) * half  # (Z - conj Z[N-k]) / 2i
            wr, wi = twr[k], twi[k]
            out[row, 2 * k] = er + wr * orr - wi * oi
            out[row, 2 * k + 1] = ei + wr * oi + wi * orr

    @cuda.jit
    def irfft_rows(X, twr, twi, out):
        # out[row] (n reals, n = out's width) = irfft(X[row], n); X interleaved re/im, missing
        # bins read as zero
        sm = cuda.shared.array(0, dtype=ft)
        row = cuda.blockIdx.x
        tid = cuda.threadIdx.x
        nthreads = cuda.blockDim.x
        N = out.shape[1] // 2
        mX = X.shape[1] // 2
        half = ft(0.5)
        for k in range(tid, N, nthreads):
            xr = ft(0)
            xi = ft(0)
            if k < mX:
                xr = X[row, 2 * k]
                if k > 0:                                  # Im X[0] is ignored, as by scipy
                    xi = X[row, 2 * k + 1]
            k2 = N - k
            cr = ft(0)
            ci = ft(0)
            if k2 < mX:
                cr = X[row, 2 * k2]
                if k2 < N:                                 # so is Im X[N], the Nyquist bin
                    ci = -X[row, 2 * k2 + 1]
            er, ei = (xr + cr) * half, (xi + ci) * half
            dr, di = (xr - cr) * half, (xi - ci) * half
            wr, wi = twr[k], twi[k]
            orr, oi = dr * wr + di * wi, di * wr - dr * wi  # O = D conj(w^k)
            sm[k] = er - oi                                 # conj(E + i O), for the inverse
            sm[N + k] = -(ei + orr)
        cuda.syncthreads()
        stages(sm, N, twr, twi, tid, nthreads)
        scale = ft(1) / ft(N)
        for k in range(tid, N, nthreads):
            out[row, 2 * k] = sm[k] * scale
            out[row, 2 * k + 1] = -sm[N + k] * scale

    return rfft_rows, irfft_rows


class StockhamFFT:
    """Batched ``rfft``/``irfft`` along the last axis with the kernels above.

    Works on NumPy arrays under the simulator and on CuPy arrays on a GPU; keeps the
    twiddle tables it has built, one per length, precision and array module.
    """

    def __init__(self) -> None:
        self._tables: Dict[Tuple[int, str, str], Tuple[Any, Any]] = {}

    def twiddles(self, xp: Any, n: int, real: Any) -> Tuple[Any, Any]:
        """``cos`` and ``sin`` of ``-2 pi t / n``, ``t < n``, in ``real`` on ``xp``'s device."""
        key = (n, np.dtype(real).name, xp.__name__)
        if key not in self._tables:
            angle = -2.0 * np.pi * np.arange(n) / n
            cos, sin = np.cos(angle), np.sin(angle)
            # Exact zeros at multiples of pi/2 (sin(-pi) is 1.2e-16 in floating point), so that
            # the Nyquist bin of a real row comes out exactly real, as it does from cuFFT.
            cos[np.abs(cos) < 1e-12] = 0.0
            sin[np.abs(sin) < 1e-12] = 0.0
            table = (xp.asarray(cos.astype(real)), xp.asarray(sin.astype(real)))
            if xp is not np:
                # The uploads are asynchronous, on the current stream; the table is then shared
                # by every stream. Waiting once here means no other stream can read it early.
                xp.cuda.get_current_stream().synchronize()
            self._tables[key] = table
        return self._tables[key]

    def rfft(self, a: Any, n: int, stream: Any = 0) -> Any:
        """Real FFT of the rows of ``a`` (..., d), zero-padded or cropped to ``n``."""
        xp, cd, real, rows = self._prepare(a, n)
        if n == 1:
            return a[..., :1].astype(cd)
        a2 = a.reshape(rows, a.shape[-1]) if a.ndim != 2 else a
        a2 = a2 if a2.dtype == real else a2.astype(real)
        out = xp.empty((rows, n // 2 + 1), cd)
        self._launch(0, xp, n, real, stream, a2, out.view(real))
        return out.reshape(*a.shape[:-1], n // 2 + 1)

    def irfft(self, A: Any, n: int, stream: Any = 0) -> Any:
        """Inverse of ``rfft``: ``n`` real samples per row of the spectra ``A`` (..., m)."""
        xp, cd, real, rows = self._prepare(A, n)
        if n == 1:
            return A[..., :1].real.astype(real)
        A2 = xp.ascontiguousarray(A.reshape(rows, A.shape[-1]), dtype=cd)
        out = xp.empty((rows, n), real)
        self._launch(1, xp, n, real, stream, A2.view(real), out)
        return out.reshape(*A.shape[:-1], n)

    @staticmethod
    def _prepare(a: Any, n: int) -> Tuple[Any, np.dtype, np.dtype, int]:
        """Array module, complex and real dtypes, and number of rows of a transform of ``a``;
        ``ValueError`` unless the kernel can do length ``n`` in that precision."""
        cd = complex_dtype(a)
        real = real_dtype(cd)
        check_n(n, real)
        return array_module(a), cd, real, int(np.prod(a.shape[:-1], dtype=np.int64))

    def _launch(self, which: int, xp: Any, n: int, real: np.dtype, stream: Any, src: Any, out: Any) -> None:
        """Kernel ``which`` (0 rfft, 1 irfft) on every row: one block of N/4 threads per row,
        each butterfly's samples in ``2 N`` reals of shared memory (N = n / 2)."""
        rows, N = out.shape[0], n // 2
        if rows > 0:
            twr, twi = self.twiddles(xp, n, real)
            launch(fft_kernels(real)[which], (rows, 1, 1), (max(N // 4, 1), 1, 1), stream,
                   2 * N * real.itemsize, src, twr, twi, out)
