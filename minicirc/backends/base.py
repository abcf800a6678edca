"""The backend protocol: the few primitives a layer may call.

A layer never asks which backend it runs on. It allocates through ``asarray``, does
elementwise work and matrix products with the array methods of whatever ``xp`` holds
(NumPy or CuPy), and does every spectral step and every sliding-window step (convolution,
pooling) through the primitives below. Adding a
backend means implementing this class, nothing in the layers.

Shapes: ``a`` is real with the transform along the last axis; spectra have
``m = n // 2 + 1`` bins (the real FFT keeps only the non-negative frequencies).
"""
from __future__ import annotations

from typing import Any

import numpy as np

from . import windows


class Backend:
    """Base class of every backend. Subclasses implement the spectral primitives."""

    #: Short name used by ``get_backend`` and in checkpoints.
    name: str = "abstract"
    #: The array namespace (``numpy`` or ``cupy``) for elementwise work and matmul.
    xp: Any = np
    #: Arrays live in host memory, so reading a value back (``float(loss)``) costs nothing.
    #: False on a GPU, where each read waits for all queued work: the trainer then reads its
    #: metrics back once per epoch instead of once per step.
    on_host: bool = True
    #: Layers check every input for NaN/Inf (``all_finite``) on each forward and raise a
    #: ``NonFiniteError`` naming the layer. Free on the host; on a GPU each check is a host
    #: synchronisation per layer, so there it is off unless asked for (``CudaBackend(check_finite=True)``)
    #: and a non-finite value is caught where it ends up, in the loss.
    check_finite: bool = True

    # -- arrays -------------------------------------------------------------
    def asarray(self, a: Any, dtype: Any = None) -> Any:
        """Move (or view) ``a`` onto this backend's device."""
        return self.xp.asarray(a, dtype=dtype)

    def to_numpy(self, a: Any) -> np.ndarray:
        """Bring ``a`` back to the host as a NumPy array (``to_host``)."""
        return to_host(a)

    def is_array(self, a: Any) -> bool:
        """True if ``a`` is already an array of this backend's kind."""
        return isinstance(a, np.ndarray)

    def all_finite(self, a: Any) -> bool:
        """True if no element of ``a`` is NaN or infinite."""
        return bool(self.xp.isfinite(a).all())

    # -- spectral primitives ------------------------------------------------
    def rfft(self, a: Any, n: int) -> Any:
        """Real FFT along the last axis, zero-padding ``a`` to length ``n``."""
        raise NotImplementedError

    def irfft(self, A: Any, n: int, *, overwrite: bool = False) -> Any:
        """Inverse real FFT along the last axis, returning ``n`` real samples.

        ``overwrite=True`` says ``A`` is a temporary the caller is done with, which the
        transform may use as scratch. cuFFT's complex-to-real transform writes over its
        input, so without that leave CuPy first copies ``A`` (a pass over the whole batch
        of spectra); SciPy never needs it. The layers pass it for the products they have
        just computed.
        """
        raise NotImplementedError

    def cmul(self, A: Any, B: Any) -> Any:
        """``A * B``: a batch of spectra ``A`` (b, m) times one spectrum ``B`` (m,); ``U R`` in eq. (C1)."""
        raise NotImplementedError

    def cmul_conj(self, A: Any, B: Any) -> Any:
        """``conj(A) * B``: one spectrum ``A`` (m,) against a batch ``B`` (b, m); ``conj(R) G`` in eq. (C3)."""
        raise NotImplementedError

    def cmul_conj_sum(self, A: Any, B: Any) -> Any:
        """``sum_b conj(A[b]) * B[b]``: two batches (b, m) reduced to one spectrum (m,); eq. (C2)."""
        raise NotImplementedError

    def cmul_conj_and_sum(self, R: Any, U: Any, G: Any) -> Any:
        """``(conj(R) * G, sum_b conj(U[b]) * G[b])`` for ``R`` (m,), ``U``, ``G`` (b, m).

        The circulant backward's two products, eqs. (C3) and (C2); both read ``G``. This
        default is the two primitives above; a backend where each pass over memory or each
        launch counts (the GPU) does both in one.
        """
        return self.cmul_conj(R, G), self.cmul_conj_sum(U, G)

    def sign_flip(self, x: Any, s: Any) -> Any:
        """``s * x`` with ``x`` (b, d) and ``s`` (d,): the diagonal ``D`` applied to a batch."""
        return x * s

    # -- block-circulant primitives (frequency-wise batched matrix products) --
    def bmm_freq(self, W: Any, X: Any) -> Any:
        """``Y[b, i, f] = sum_j W[i, j, f] * X[b, j, f]`` for spectra ``W`` (p, q, m), ``X`` (b, q, m).

        ``einsum("ijf,bjf->bif", W, X)``: the block-circulant forward, eq. (B1).
        """
        raise NotImplementedError

    def bmm_freq_conj_w(self, W: Any, G: Any) -> Any:
        """``DX[b, j, f] = sum_i conj(W[i, j, f]) * G[b, i, f]`` for ``W`` (p, q, m), ``G`` (b, p, m).

        ``einsum("ijf,bif->bjf", conj(W), G)``: the block-circulant input gradient, eq. (B3).
        """
        raise NotImplementedError

    def bmm_freq_conj_x_sum(self, X: Any, G: Any) -> Any:
        """``DW[i, j, f] = sum_b conj(X[b, j, f]) * G[b, i, f]`` for ``X`` (b, q, m), ``G`` (b, p, m).

        ``einsum("bjf,bif->ijf", conj(X), G)``: the block-circulant weight gradient, eq. (B2).
        """
        raise NotImplementedError

    # -- the rectifier ----------------------------------------------------------
    # Two NumPy expressions, a primitive so that a backend can make each one pass: on a
    # convolution's output (1.5 M numbers a batch for the MNIST CNN) the passes and the
    # temporaries are most of a ReLU's time.

    def relu(self, x: Any) -> Any:
        """``(y, mask)``: ``mask = x > 0`` and ``y = x * mask``, ReLU's output and its cache."""
        mask = x > 0
        return x * mask, mask

    def relu_backward(self, dy: Any, mask: Any) -> Any:
        """``dy * mask``: ReLU's ``dx``."""
        return dy * mask

    # -- image windows (the convolution and pooling layers) -------------------
    # One implementation for every backend, written on ``self.xp`` (windows.py): NumPy on the
    # CPU backends, CuPy on the GPU. A backend with faster kernels overrides these.

    def im2col(self, x: Any, k: int, stride: int, padding: int) -> Any:
        """``cols[(c, i, j), (b, h, w)] = x~[b, c, s h + i, s w + j]``: images ``x`` (B, C, H, W),
        zero-padded by ``padding``, as a (C k k, B Ho Wo) matrix; the convolution's eq. (K1)
        is then one matrix product. See ``windows.py``."""
        return windows.im2col(self.xp, x, k, stride, padding)

    def col2im(self, cols: Any, x_shape: tuple, k: int, stride: int, padding: int) -> Any:
        """The adjoint of ``im2col``: each column scatter-added back to the pixels it read,
        overlaps summed, padding cropped; (B, C, H, W). The convolution's ``dx``, eq. (K4)."""
        return windows.col2im(self.xp, cols, x_shape, k, stride, padding)

    def swap01(self, a: Any, add: Any = None) -> Any:
        """``a`` (N0, N1, ...) as a contiguous (N1, N0, ...), plus ``add[n0]`` on ``out[:, n0]``
        if given: the convolution's (C_out, B, Ho, Wo) product to the layers' (B, C_out, Ho, Wo)
        with its bias (eq. (K1)), and its ``dy`` back to the column order of ``im2col``."""
        return windows.swap01(self.xp, a, add)

    def maxpool(self, x: Any, k: int, stride: int) -> Any:
        """``(y, arg)``: the maximum of each k x k window of ``x`` (B, C, H, W) and its position
        ``i k + j`` in the window, the first in row-major order at a tie; eq. (P1)."""
        return windows.maxpool(self.xp, x, k, stride)

    def maxpool_backward(self, dy: Any, arg: Any, x_shape: tuple, k: int, stride: int) -> Any:
        """``dx`` (``x_shape``): each ``dy`` routed to the input at its window's ``arg``; eq. (P2)."""
        return windows.maxpool_backward(self.xp, dy, arg, x_shape, k, stride)

    def __repr__(self) -> str:
        return f"<minicirc backend {self.name!r}>"


def array_module(a: Any) -> Any:
    """``cupy`` for a GPU array, else ``numpy``: for code that has an array but no layer."""
    if hasattr(a, "__cuda_array_interface__") and not isinstance(a, np.ndarray):
        import cupy

        return cupy
    return np


def to_host(a: Any) -> np.ndarray:
    """``a`` as a NumPy array: a GPU array copied back (waiting for the work that makes it),
    anything else through ``np.asarray``. The one way the engine brings data to the host."""
    xp = array_module(a)
    return np.asarray(a) if xp is np else xp.asnumpy(a)
