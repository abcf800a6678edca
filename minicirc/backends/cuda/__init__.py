"""The CUDA backend: arrays on the GPU as CuPy arrays, spectral products as Numba kernels.

FFTs by cuFFT (``cupyx.scipy.fft``, ``fft="cufft"``, any ``n``) or by the hand-written Stockham
kernel of ``fft.py`` (``fft="own"``, power-of-two ``n`` up to ``fft.max_n``). Numba kernels
read CuPy arrays in place (no copy: ``cuda.as_cuda_array`` views them) and are launched by
Numba's dispatcher on CuPy's current stream (``cuda.external_stream``), so the two libraries'
work stays in order without host synchronisation.

A training step can also be captured and replayed as one CUDA graph: ``philox.py`` (the
dropout masks' counter-based generator), ``fused.py`` (fused elementwise kernels and the
one-launch optimizer), ``flat.py`` (the parameters in one flat buffer), ``scalars.py`` (step
and learning rate on the device), ``plan.py`` (the step as fixed device work) and ``graph.py``
(its capture and replay); docs/benchmarks-gpu.md describes them.

Nothing here is imported by ``import minicirc``: CuPy, Numba's CUDA target and the kernels
are loaded when a ``CudaBackend`` is built, and a missing piece raises ``RuntimeError``
naming it -- never a silent fallback to the CPU.
"""
from __future__ import annotations

import math
import os
from typing import Any, Dict, Tuple

import numpy as np

from ..base import Backend

FFTS = ("cufft", "own")


def _load() -> Tuple[Any, Any]:
    """Import CuPy and Numba's CUDA target and check for a real GPU; return (cupy, numba.cuda)."""
    if os.environ.get("NUMBA_ENABLE_CUDASIM", "0") not in ("", "0"):
        raise RuntimeError("cuda backend: NUMBA_ENABLE_CUDASIM is set, so Numba simulates CUDA on the "
                           "CPU; the backend needs a real GPU (the simulator is for the kernel tests)")
    try:
        import cupy
    except ImportError as e:
        raise RuntimeError(f"cuda backend: CuPy is not installed ({e}); install the extra for your "
                           "CUDA: pip install 'minicirc[gpu]' (CUDA 12) or 'minicirc[gpu-cuda13]'") from e
    try:
        count = cupy.cuda.runtime.getDeviceCount()
    except Exception as e:  # no driver, no device, broken install: CuPy's own words say which
        raise RuntimeError(f"cuda backend: CuPy finds no usable CUDA GPU: {e}") from e
    if count < 1:
        raise RuntimeError("cuda backend: CuPy finds no CUDA GPU (device count 0)")
    try:
        from numba import cuda
    except ImportError as e:
        raise RuntimeError(f"cuda backend: Numba's CUDA target cannot be imported ({e}); "
                           "pip install numba-cuda") from e
    if not cuda.is_available():
        raise RuntimeError("cuda backend: numba.cuda sees no usable GPU or CUDA driver "
                           "(numba-cuda installed? try: python -c 'from numba import cuda; cuda.detect()')")
    return cupy, cuda


class CudaBackend(Backend):
    """Spectral primitives on an NVIDIA GPU.

    ``fft="cufft"``: cuFFT (``cupyx.scipy.fft.rfft/irfft``) for any ``n``. ``fft="own"``: the
    Stockham kernel, which raises ``ValueError`` for an ``n`` that is not a power of two or is
    past its limit.

    ``check_finite=True`` makes every layer check its input for NaN/Inf on each forward, as
    on the CPU; each check waits for the GPU, so it is for debugging. By default nothing in
    a forward or backward reads back from the GPU and a NaN shows in the loss, which the
    trainer checks (with the step it first appeared) when it reads its metrics each epoch.
    """

    name = "cuda"
    on_host = False

    def __init__(self, fft: str = "cufft", *, check_finite: bool = False) -> None:
        if fft not in FFTS:
            raise ValueError(f"CudaBackend: fft must be one of {FFTS}, got {fft!r}")
        cupy, cuda = _load()
        self._setup(cupy, cuda, fft, check_finite)

    @classmethod
    def simulated(cls, fft: str = "own", *, check_finite: bool = False) -> "CudaBackend":
        """This backend on host NumPy arrays, for tests under Numba's CUDA simulator only.

        The kernels and launchers are the GPU ones; ``fft="cufft"`` stands in ``scipy.fft``
        for cuFFT. Refuses to run unless ``NUMBA_ENABLE_CUDASIM`` was set before Numba loaded.
        """
        if fft not in FFTS:
            raise ValueError(f"CudaBackend: fft must be one of {FFTS}, got {fft!r}")
        from numba import config

        if not config.ENABLE_CUDASIM:
            raise RuntimeError("CudaBackend.simulated: Numba's CUDA simulator is off; set "
                               "NUMBA_ENABLE_CUDASIM=1 before Numba is imported")
        from numba import cuda

        self = cls.__new__(cls)
        self._setup(np, cuda, fft, check_finite)
        return self

    def _setup(self, xp: Any, cuda: Any, fft: str, check_finite: bool) -> None:
        from . import kernels
        from .fft import StockhamFFT

        self.xp, self._cuda, self.fft = xp, cuda, fft
        self.check_finite = bool(check_finite)
        # The registry name that rebuilds this backend (get_backend), also what checkpoints record.
        self.name = "cuda" if fft == "cufft" else "cuda-ownfft"
        self._k = kernels
        self._own = StockhamFFT() if fft == "own" else None
        # cuFFT through CuPy's scipy.fft twin rather than cupy.fft: only it takes overwrite_x,
        # which spares irfft a copy of its input (see Backend.irfft).
        if xp is np:
            import scipy.fft as fftlib
        else:
            import cupyx.scipy.fft as fftlib
        self._fftlib = fftlib
        self._streams: Dict[int, Any] = {}

    # -- arrays ---------------------------------------------------------------
    def asarray(self, a: Any, dtype: Any = None) -> Any:
        return self.xp.asarray(a, dtype=dtype)

    def is_array(self, a: Any) -> bool:
        return isinstance(a, self.xp.ndarray)

    def all_finite(self, a: Any) -> bool:
        """No NaN or Inf in ``a``: one reduction and one host synchronisation in the usual case.

        A sum in float64 is finite only if every element is (a NaN or an Inf makes it NaN or
        infinite), and a finite float32 or float16 array cannot overflow it. So a finite sum
        settles it; a sum that is not finite (some element is not, or a float64 array's
        finite values overflowed) falls back to the exact elementwise check.
        """
        xp = self.xp
        if getattr(a, "dtype", None) is not None and a.dtype.kind == "f":
            if a.size == 0:
                return True
            if xp is np:                                   # the simulator: NumPy warns on overflow
                with np.errstate(over="ignore", invalid="ignore"):
                    total = float(a.sum(dtype=np.float64))
            else:
                total = float(a.sum(dtype=np.float64))
            if math.isfinite(total):
                return True
        return bool(xp.isfinite(a).all())

    def _stream(self) -> Any:
        """Numba's handle on CuPy's current stream (0, the legacy default, needs none)."""
        if self.xp is np:
            return 0
        ptr = self.xp.cuda.get_current_stream().ptr
        if ptr == 0:
            return 0
        if ptr not in self._streams:
            self._streams[ptr] = self._cuda.external_stream(ptr)
        return self._streams[ptr]

    # -- spectral primitives --------------------------------------------------
    def rfft(self, a: Any, n: int) -> Any:
        if self._own is not None:
            return self._own.rfft(a, n, self._stream())
        cd = self._k.complex_dtype(a)
        if a.dtype.kind != "f":
            a = a.astype(self._k.real_dtype(cd))
        # cuFFT keeps float32 as complex64; the astype is a guard that costs nothing then.
        return self._fftlib.rfft(a, n=n, axis=-1).astype(cd, copy=False)

    def irfft(self, A: Any, n: int, *, overwrite: bool = False) -> Any:
        if self._own is not None:                      # reads A, writes a new array: no scratch
            return self._own.irfft(A, n, self._stream())
        cd = self._k.complex_dtype(A)
        A = A.astype(cd, copy=False)
        # n= always: the default length would be 2 (m - 1), one sample short for odd n.
        out = self._fftlib.irfft(A, n=n, axis=-1, overwrite_x=overwrite)
        return out.astype(self._k.real_dtype(cd), copy=False)

    def cmul(self, A: Any, B: Any) -> Any:
        return self._k.cmul(A, B, self._stream())

    def cmul_conj(self, A: Any, B: Any) -> Any:
        return self._k.cmul_conj(A, B, self._stream())

    def cmul_conj_sum(self, A: Any, B: Any) -> Any:
        return self._k.cmul_conj_sum(A, B, self._stream())

    def cmul_conj_and_sum(self, R: Any, U: Any, G: Any) -> Tuple[Any, Any]:
        return self._k.cmul_conj_and_sum(R, U, G, self._stream())

    def sign_flip(self, x: Any, s: Any) -> Any:
        return self._k.sign_flip(x, s, self._stream())

    def bmm_freq(self, W: Any, X: Any) -> Any:
        return self._k.bmm_freq(W, X, self._stream())

    def bmm_freq_conj_w(self, W: Any, G: Any) -> Any:
        return self._k.bmm_freq_conj_w(W, G, self._stream())

    def bmm_freq_conj_x_sum(self, X: Any, G: Any) -> Any:
        return self._k.bmm_freq_conj_x_sum(X, G, self._stream())

    # A backend is a service, not layer state: a deep copy of a layer (Layer.astype) shares it,
    # and a pickled one is rebuilt on the unpickling side's GPU (it holds modules and streams).
    def __deepcopy__(self, memo: Dict[int, Any]) -> "CudaBackend":
        return self

    def __reduce__(self) -> Tuple[Any, Tuple[str, bool]]:
        return _rebuild, (self.fft, self.check_finite)

    def __repr__(self) -> str:
        extra = ", check_finite=True" if self.check_finite else ""
        return f"<minicirc backend {self.name!r} (fft={self.fft!r}{extra})>"


def _rebuild(fft: str, check_finite: bool) -> "CudaBackend":
    return CudaBackend(fft, check_finite=check_finite)


__all__ = ["CudaBackend", "FFTS"]
