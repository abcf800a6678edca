"""The ``numba`` backend: ``scipy.fft`` transforms and Numba spectral kernels.

Numba has no FFT, so the transforms stay with ``scipy.fft`` (pocketfft), which keeps
float32 as complex64. Threads pay off only on enough work, so sizes decide:

- transforms: a batch with at least ``fft_parallel_min`` samples in all (rows * n) gets
  ``workers`` threads, fewer get one (pocketfft splits over rows, so one row is one thread):
  a second thread pays only on large transforms, and on a machine shared with other work
  costs more than it gains on small ones (docs/benchmarks.md, "Threads");
- products: fewer than ``kernel_min`` elements (8x that for the bare products ``cmul`` and
  ``sign_flip`` and the rectifier's ``relu``) run as the NumPy expression of the reference backend (a Numba call costs
  about a microsecond more than a NumPy ufunc on a tiny array); from there on a serial
  Numba kernel; from ``kernel_parallel_min`` elements on (if given,
  and ``workers > 1``) the ``@njit(parallel=True)`` kernel on Numba's threads;
- image windows (``im2col``, ``col2im``, ``maxpool``, ``maxpool_backward``, the convolution
  and pooling layers' work; ``swap01`` stays NumPy's copy, which already moves whole image
  planes at a time): from ``kernel_min`` elements on, one-pass Numba kernels
  (numba_windows.py) equal bit for bit to the NumPy versions of windows.py, serial or
  parallel by the same ``kernel_parallel_min`` rule; below it, or for arrays that are not
  C-contiguous float32/float64, the NumPy versions.

Why the parallel kernels are off by default: the kernel itself gets faster, but Numba's
OpenMP workers spin for a while after each parallel region, take the core that pocketfft or
other processes want, and stall the next transform, which costs a machine with few cores
more than the kernel saves. With ``OMP_WAIT_POLICY=passive`` or
``NUMBA_THREADING_LAYER=workqueue`` the stalls go, but the products are memory-bound passes
worth a fifth of a step, which threads barely shorten; the transforms are the rest, and
pocketfft's own pool sleeps when idle.
On a machine with idle cores, try ``kernel_parallel_min=1 << 20`` with one of those settings.

Every primitive returns a fresh array that no later call writes to, so a layer may keep
what it gets (the forward spectrum for backward, ``y`` for the next layer). ``irfft``
passes the layers' ``overwrite`` on as ``overwrite_x`` (the protocol's hint that its input is
a temporary), which SciPy ignores for complex-to-real transforms; ``rfft`` does not pass it.
"""
from __future__ import annotations

from typing import Any, Callable, Optional

import numpy as np
import scipy.fft

try:
    import numba
except ImportError as e:  # pragma: no cover - numba is a dependency, but say so clearly
    raise RuntimeError("the 'numba' backend needs the numba package (pip install numba)") from e

from . import numba_kernels as K
from . import numba_windows as KW
from .base import Backend
from .windows import out_size, pad
from .numpy_backend import NumpyBackend

_REAL = (np.dtype(np.float32), np.dtype(np.float64))
_ARG = (np.dtype(np.uint8), np.dtype(np.int32))
_COMPLEX = (np.dtype(np.complex64), np.dtype(np.complex128))
# Exponent field of each float type, and the unsigned integer of the same width.
_EXPONENT = {np.dtype(np.float32): (np.uint32, np.uint32(0x7F800000)),
             np.dtype(np.float64): (np.uint64, np.uint64(0x7FF0000000000000))}


def _window(k: Any, stride: Any, padding: Any) -> bool:
    """Window sizes the kernels can take; others (which the layers never pass) go to NumPy,
    which raises or answers as it does on every backend. The kernels do not check bounds,
    so the backend checks every shape they index by before calling them."""
    return (all(isinstance(v, (int, np.integer)) for v in (k, stride, padding))
            and k >= 1 and stride >= 1 and padding >= 0)


class NumbaBackend(Backend):
    """scipy.fft transforms plus Numba products; the size rules are in the module docstring.

    ``workers``: threads for large transforms (default: Numba's thread count, which the
    parallel kernels use when enabled). The thresholds suit a machine of few cores;
    ``kernel_min=0`` forces the kernels at every size and ``kernel_parallel_min=0`` the
    parallel ones (the tests use both).
    """

    name = "numba"
    xp = np

    def __init__(self, workers: Optional[int] = None, *, fft_parallel_min: int = 1 << 19,
                 kernel_min: int = 1 << 11, kernel_parallel_min: Optional[int] = None) -> None:
        self.workers = numba.get_num_threads() if workers is None else int(workers)
        if self.workers < 1:
            raise ValueError(f"NumbaBackend: workers must be >= 1, got {workers!r}")
        self.fft_parallel_min = int(fft_parallel_min)
        self.kernel_min = int(kernel_min)
        #: Block products use the Numba kernel up to this many blocks per frequency (p q).
        self.bmm_max_blocks = 64
        self.kernel_parallel_min = None if kernel_parallel_min is None else int(kernel_parallel_min)

    def __repr__(self) -> str:
        return f"<minicirc backend 'numba' workers={self.workers}>"

    # -- transforms -----------------------------------------------------------
    def _fft_workers(self, a: Any, n: int) -> int:
        rows = a.size // a.shape[-1] if a.ndim > 1 and a.shape[-1] else 1
        return self.workers if rows > 1 and rows * n >= self.fft_parallel_min else 1

    def rfft(self, a: Any, n: int) -> Any:
        return scipy.fft.rfft(a, n=n, axis=-1, workers=self._fft_workers(a, n))

    def irfft(self, A: Any, n: int, *, overwrite: bool = False) -> Any:
        # n= is not optional: for odd n the default length would be one sample short.
        return scipy.fft.irfft(A, n=n, axis=-1, workers=self._fft_workers(A, n), overwrite_x=overwrite)

    # -- which kernel, if any -----------------------------------------------------
    # The size test comes first: below kernel_min a call costs no more than the NumPy one.
    def _kernel(self, size: int, parallel: Callable, serial: Callable) -> Callable:
        """The kernel for ``size`` (>= ``kernel_min``) elements of work."""
        if self.workers > 1 and self.kernel_parallel_min is not None and size >= self.kernel_parallel_min:
            return parallel
        return serial

    def _big(self, a: Any, plain: bool = False) -> bool:
        """Enough elements for a kernel. ``plain``: a bare product, ``A * B``, where NumPy's
        ufunc keeps up with the kernel up to 8x further (conj and the batch sum cost NumPy a
        temporary, so the kernel wins from kernel_min)."""
        return getattr(a, "size", 0) >= (self.kernel_min << 3 if plain else self.kernel_min)

    @staticmethod
    def _fits(batch: Any, vec: Any, kinds: tuple) -> bool:
        """A 2-D batch and a 1-D vector along its rows, both ndarrays of one dtype in ``kinds``."""
        return (isinstance(batch, np.ndarray) and isinstance(vec, np.ndarray)
                and batch.dtype == vec.dtype and batch.dtype in kinds
                and batch.ndim == 2 and vec.ndim == 1 and vec.shape[0] == batch.shape[1])

    # -- spectral products ----------------------------------------------------------
    def cmul(self, A: Any, B: Any) -> Any:
        if not (self._big(A, plain=True) and self._fits(A, B, _COMPLEX)):
            return A * B
        out = np.empty_like(A)
        self._kernel(A.size, K.cmul, K.cmul_serial)(A, B, out)
        return out

    def cmul_conj(self, A: Any, B: Any) -> Any:
        if not (self._big(B) and self._fits(B, A, _COMPLEX)):
            return np.conj(A) * B
        out = np.empty_like(B)
        self._kernel(B.size, K.cmul_conj, K.cmul_conj_serial)(A, B, out)
        return out

    def cmul_conj_sum(self, A: Any, B: Any) -> Any:
        if not (self._big(A) and isinstance(A, np.ndarray) and isinstance(B, np.ndarray)
                and A.ndim == 2 and A.shape == B.shape and A.dtype == B.dtype and A.dtype in _COMPLEX):
            return np.einsum("bf,bf->f", np.conj(A), B)
        out = np.zeros(B.shape[1], B.dtype)
        self._kernel(A.size, K.cmul_conj_sum, K.cmul_conj_sum_serial)(A, B, out)
        return out

    def sign_flip(self, x: Any, s: Any) -> Any:
        if not (self._big(x, plain=True) and self._fits(x, s, _REAL)):
            return x * s
        out = np.empty(x.shape, x.dtype)
        self._kernel(x.size, K.sign_flip, K.sign_flip_serial)(x, s, out)
        return out

    def relu(self, x: Any) -> Any:
        if not (self._big(x, plain=True) and isinstance(x, np.ndarray) and x.dtype in _REAL
                and x.flags.c_contiguous):
            return Backend.relu(self, x)
        y, mask = np.empty(x.shape, x.dtype), np.empty(x.shape, np.bool_)
        self._kernel(x.size, K.relu, K.relu_serial)(x.reshape(-1), y.reshape(-1), mask.reshape(-1))
        return y, mask

    def relu_backward(self, dy: Any, mask: Any) -> Any:
        if not (self._big(dy, plain=True) and isinstance(dy, np.ndarray) and dy.dtype in _REAL
                and isinstance(mask, np.ndarray) and mask.dtype == np.bool_ and mask.shape == dy.shape
                and dy.flags.c_contiguous and mask.flags.c_contiguous):
            return Backend.relu_backward(self, dy, mask)
        dx = np.empty(dy.shape, dy.dtype)
        self._kernel(dy.size, K.relu_backward, K.relu_backward_serial)(dy.reshape(-1), mask.reshape(-1),
                                                                        dx.reshape(-1))
        return dx

    def all_finite(self, a: Any) -> bool:
        if not (self._big(a) and isinstance(a, np.ndarray) and a.dtype in _EXPONENT
                and a.flags.c_contiguous):
            return bool(np.isfinite(a).all())
        uint, mask = _EXPONENT[a.dtype]
        k = self._kernel(a.size, K.max_exponent, K.max_exponent_serial)
        return bool(k(a.reshape(-1).view(uint), mask) != mask)

    # -- block-circulant products -------------------------------------------------
    def _bmm(self, L: Any, R: Any, axes: tuple, parallel: Callable, serial: Callable,
             blocks: int) -> Optional[Callable]:
        """The kernel for two complex 3-D arrays of one dtype with ``L.shape[axes[0]] ==
        R.shape[axes[1]]`` and one frequency axis, or None for the reference's BLAS matmul.

        ``blocks`` is p q, the size of each frequency's small matrix. The kernel loops over it
        in compiled code, which beats a batched BLAS call only while the matrices are tiny
        (``bmm_max_blocks``; ``python -m benchmarks.block`` times both, and
        docs/results/bench-cpu/block_bench.md holds a run)."""
        ok = (blocks <= self.bmm_max_blocks and (self._big(L) or self._big(R))
              and isinstance(L, np.ndarray) and isinstance(R, np.ndarray)
              and L.ndim == 3 and R.ndim == 3 and L.dtype == R.dtype and L.dtype in _COMPLEX
              and L.shape[2] == R.shape[2] and L.shape[axes[0]] == R.shape[axes[1]])
        return self._kernel(max(L.size, R.size), parallel, serial) if ok else None

    def bmm_freq(self, W: Any, X: Any) -> Any:
        k = self._bmm(W, X, (1, 1), K.bmm_freq, K.bmm_freq_serial, W.shape[0] * W.shape[1])
        if k is None:
            return NumpyBackend.bmm_freq(self, W, X)
        Y = np.zeros((X.shape[0], W.shape[0], W.shape[2]), X.dtype)
        k(W, X, Y)
        return Y

    def bmm_freq_conj_w(self, W: Any, G: Any) -> Any:
        k = self._bmm(W, G, (0, 1), K.bmm_freq_conj_w, K.bmm_freq_conj_w_serial, W.shape[0] * W.shape[1])
        if k is None:
            return NumpyBackend.bmm_freq_conj_w(self, W, G)
        DX = np.zeros((G.shape[0], W.shape[1], W.shape[2]), G.dtype)
        k(W, G, DX)
        return DX

    def bmm_freq_conj_x_sum(self, X: Any, G: Any) -> Any:
        k = self._bmm(X, G, (0, 0), K.bmm_freq_conj_x_sum, K.bmm_freq_conj_x_sum_serial,
                      X.shape[1] * G.shape[1])
        if k is None:
            return NumpyBackend.bmm_freq_conj_x_sum(self, X, G)
        DW = np.zeros((G.shape[1], X.shape[1], X.shape[2]), G.dtype)
        k(X, G, DW)
        return DW

    # -- image windows (the convolution and pooling layers) ---------------------------------
    # One pass each instead of windows.py's k * k passes and transposes (numba_windows.py),
    # for C-contiguous float arrays of at least kernel_min elements; anything else goes to
    # the NumPy versions, which give the same numbers.
    def _images(self, *arrays: Any) -> bool:
        """C-contiguous ndarrays of one float dtype, the first big enough for a kernel."""
        a = arrays[0]
        return (self._big(a) and a.size > 0 and all(isinstance(b, np.ndarray) and b.flags.c_contiguous
                                     for b in arrays)
                and a.dtype in _REAL and all(b.dtype == a.dtype for b in arrays))

    def im2col(self, x: Any, k: int, stride: int, padding: int) -> Any:
        if not (self._images(x) and x.ndim == 4 and _window(k, stride, padding)):
            return Backend.im2col(self, x, k, stride, padding)
        B, C, H, W = x.shape
        ho, wo = out_size(H, k, stride, padding), out_size(W, k, stride, padding)
        cols = np.empty((C, k, k, B, ho, wo), x.dtype)
        self._kernel(cols.size, KW.im2col, KW.im2col_serial)(pad(np, x, padding), k, stride, cols)
        return cols.reshape(C * k * k, B * ho * wo)

    def col2im(self, cols: Any, x_shape: tuple, k: int, stride: int, padding: int) -> Any:
        B, C, H, W = x_shape
        ho, wo = out_size(H, k, stride, padding), out_size(W, k, stride, padding)
        if not (self._images(cols) and _window(k, stride, padding)
                and cols.shape == (C * k * k, B * ho * wo)):
            return Backend.col2im(self, cols, x_shape, k, stride, padding)
        p = padding
        dxt = np.empty((B, C, H + 2 * p, W + 2 * p), cols.dtype)
        self._kernel(cols.size, KW.col2im, KW.col2im_serial)(cols.reshape(C, k, k, B, ho, wo), k, stride, dxt)
        return dxt if p == 0 else np.ascontiguousarray(dxt[:, :, p: p + H, p: p + W])

    def maxpool(self, x: Any, k: int, stride: int) -> Any:
        if not (self._images(x) and x.ndim == 4 and _window(k, stride, 0)):
            return Backend.maxpool(self, x, k, stride)
        B, C, H, W = x.shape
        ho, wo = out_size(H, k, stride, 0), out_size(W, k, stride, 0)
        y = np.empty((B, C, ho, wo), x.dtype)
        arg = np.empty(y.shape, np.uint8 if k * k <= 256 else np.int32)   # as windows.maxpool
        self._kernel(x.size, KW.maxpool, KW.maxpool_serial)(
            x.reshape(B * C, H, W), k, stride, y.reshape(B * C, ho, wo), arg.reshape(B * C, ho, wo))
        return y, arg

    def maxpool_backward(self, dy: Any, arg: Any, x_shape: tuple, k: int, stride: int) -> Any:
        if not (self._images(dy) and isinstance(arg, np.ndarray) and arg.flags.c_contiguous
                and arg.dtype in _ARG and dy.ndim == 4 and arg.shape == dy.shape and _window(k, stride, 0)
                and len(x_shape) == 4 and tuple(x_shape[:2]) == dy.shape[:2]
                and (out_size(x_shape[2], k, stride, 0), out_size(x_shape[3], k, stride, 0)) == dy.shape[2:]):
            return Backend.maxpool_backward(self, dy, arg, x_shape, k, stride)
        dx = np.empty(x_shape, dy.dtype)
        planes = (-1,) + tuple(dy.shape[2:])
        self._kernel(dx.size, KW.maxpool_backward, KW.maxpool_backward_serial)(
            dy.reshape(planes), arg.reshape(planes), k, stride, dx.reshape((-1,) + tuple(x_shape[2:])))
        return dx
