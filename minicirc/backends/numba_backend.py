"""The ``numba`` backend: ``scipy.fft`` transforms and parallel Numba spectral kernels.

Numba has no FFT, so the transforms stay with ``scipy.fft`` (pocketfft), which keeps
float32 as complex64. Two size rules decide how much parallelism a call gets, because
threads cost a few microseconds to wake and only pay off on enough work:

- ``fft_parallel_min``: a batch of transforms with at least this many samples in all
  (rows * n) gets ``workers`` threads, fewer get one. pocketfft splits over rows, so a
  single row always runs on one thread.
- ``kernel_min``: products with fewer elements than this run as the NumPy expression of
  the reference backend (a Numba call costs about a microsecond more than a NumPy ufunc on
  a tiny array); from this size on they run as the parallel kernels of ``numba_kernels``.

Every primitive returns a fresh array that no later call writes to, so a layer may keep
what it gets (the forward spectrum for backward, ``y`` for the next layer). ``overwrite_x``
is not passed: scipy ignores it for real transforms.
"""
from __future__ import annotations

from typing import Any, Optional

import numpy as np
import scipy.fft

try:
    import numba
except ImportError as e:  # pragma: no cover - numba is a hard dependency, but say so clearly
    raise RuntimeError("the 'numba' backend needs the numba package (pip install numba)") from e

from . import numba_kernels as K
from .base import Backend

_REAL = (np.dtype(np.float32), np.dtype(np.float64))
_COMPLEX = (np.dtype(np.complex64), np.dtype(np.complex128))
# Exponent field of each float type, and the unsigned integer of the same width.
_EXPONENT = {np.dtype(np.float32): (np.uint32, np.uint32(0x7F800000)),
             np.dtype(np.float64): (np.uint64, np.uint64(0x7FF0000000000000))}


class NumbaBackend(Backend):
    """scipy.fft transforms plus ``@njit(parallel=True)`` products.

    ``workers``: threads for large transforms (default: Numba's thread count, so the
    kernels and the transforms use the same number). ``fft_parallel_min`` and
    ``kernel_min``: the size rules in the module docstring, measured on a 2-core machine;
    ``kernel_min=0`` forces the kernels at every size (the tests use it).
    """

    name = "numba"
    xp = np

    def __init__(self, workers: Optional[int] = None, *, fft_parallel_min: int = 1 << 16,
                 kernel_min: int = 1 << 13) -> None:
        self.workers = numba.get_num_threads() if workers is None else int(workers)
        if self.workers < 1:
            raise ValueError(f"NumbaBackend: workers must be >= 1, got {workers!r}")
        self.fft_parallel_min = int(fft_parallel_min)
        self.kernel_min = int(kernel_min)

    # -- transforms -----------------------------------------------------------
    def _fft_workers(self, a: Any, n: int) -> int:
        rows = a.size // a.shape[-1] if a.ndim > 1 and a.shape[-1] else 1
        return self.workers if rows > 1 and rows * n >= self.fft_parallel_min else 1

    def rfft(self, a: Any, n: int) -> Any:
        return scipy.fft.rfft(a, n=n, axis=-1, workers=self._fft_workers(a, n))

    def irfft(self, A: Any, n: int) -> Any:
        # n= is not optional: for odd n the default length would be one sample short.
        return scipy.fft.irfft(A, n=n, axis=-1, workers=self._fft_workers(A, n))

    # -- the kernels, where they apply ------------------------------------------
    def _use_kernel(self, big: Any, small: Any, kinds: tuple, ndim: int) -> bool:
        """Kernel only for the shapes and dtypes it was written for, and enough work."""
        return (isinstance(big, np.ndarray) and isinstance(small, np.ndarray)
                and big.dtype == small.dtype and big.dtype in kinds
                and big.ndim == ndim and small.ndim == 1 and small.shape[0] == big.shape[-1]
                and big.size >= self.kernel_min)

    def cmul(self, A: Any, B: Any) -> Any:
        if self._use_kernel(A, B, _COMPLEX, 2):
            out = np.empty_like(A)
            K.cmul(A, B, out)
            return out
        return A * B

    def cmul_conj(self, A: Any, B: Any) -> Any:
        if self._use_kernel(B, A, _COMPLEX, 2):
            out = np.empty_like(B)
            K.cmul_conj(A, B, out)
            return out
        return np.conj(A) * B

    def cmul_conj_sum(self, A: Any, B: Any) -> Any:
        if (isinstance(A, np.ndarray) and isinstance(B, np.ndarray) and A.ndim == 2
                and A.shape == B.shape and A.dtype == B.dtype and A.dtype in _COMPLEX
                and A.size >= self.kernel_min):
            out = np.zeros(B.shape[1], B.dtype)
            K.cmul_conj_sum(A, B, out)
            return out
        return np.einsum("bf,bf->f", np.conj(A), B)

    def sign_flip(self, x: Any, s: Any) -> Any:
        if self._use_kernel(x, s, _REAL, 2):
            out = np.empty(x.shape, x.dtype)
            K.sign_flip(x, s, out)
            return out
        return x * s

    def all_finite(self, a: Any) -> bool:
        if (isinstance(a, np.ndarray) and a.dtype in _EXPONENT and a.size >= self.kernel_min
                and a.flags.c_contiguous):
            uint, mask = _EXPONENT[a.dtype]
            return bool(K.max_exponent(a.reshape(-1).view(uint), mask) != mask)
        return bool(np.isfinite(a).all())

    # -- block-circulant products -------------------------------------------------
    def _use_bmm(self, L: Any, R: Any, axes: tuple) -> bool:
        """Two complex 3-D arrays of one dtype, agreeing on ``L.shape[axes[0]] == R.shape[axes[1]]``
        and on the frequency axis."""
        return (isinstance(L, np.ndarray) and isinstance(R, np.ndarray)
                and L.ndim == 3 and R.ndim == 3 and L.dtype == R.dtype and L.dtype in _COMPLEX
                and L.shape[2] == R.shape[2] and L.shape[axes[0]] == R.shape[axes[1]]
                and max(L.size, R.size) >= self.kernel_min)

    def bmm_freq(self, W: Any, X: Any) -> Any:
        if self._use_bmm(W, X, (1, 1)):
            Y = np.zeros((X.shape[0], W.shape[0], W.shape[2]), X.dtype)
            K.bmm_freq(W, X, Y)
            return Y
        return np.einsum("ijf,bjf->bif", W, X)

    def bmm_freq_conj_w(self, W: Any, G: Any) -> Any:
        if self._use_bmm(W, G, (0, 1)):
            DX = np.zeros((G.shape[0], W.shape[1], W.shape[2]), G.dtype)
            K.bmm_freq_conj_w(W, G, DX)
            return DX
        return np.einsum("ijf,bif->bjf", np.conj(W), G)

    def bmm_freq_conj_x_sum(self, X: Any, G: Any) -> Any:
        if self._use_bmm(X, G, (0, 0)):
            DW = np.zeros((G.shape[1], X.shape[1], X.shape[2]), G.dtype)
            K.bmm_freq_conj_x_sum(X, G, DW)
            return DW
        return np.einsum("bjf,bif->ijf", np.conj(X), G)
