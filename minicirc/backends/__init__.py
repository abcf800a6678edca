"""Backends: the spectral primitives a layer runs on (see ``base.Backend``).

``get_backend(None)`` gives the NumPy reference. ``"numba"`` and ``"cuda"`` are imported
only when asked for, so ``import minicirc`` needs neither a GPU nor CuPy.
"""
from __future__ import annotations

from typing import Callable, Dict, Union

from .base import Backend, array_module, to_host
from .numpy_backend import NumpyBackend


def _numba() -> Backend:
    from .numba_backend import NumbaBackend

    return NumbaBackend()


def _cuda() -> Backend:
    from .cuda import CudaBackend

    return CudaBackend()


def _cuda_own_fft() -> Backend:
    from .cuda import CudaBackend

    return CudaBackend(fft="own")


_FACTORIES: Dict[str, Callable[[], Backend]] = {
    "numpy": NumpyBackend,
    "numba": _numba,
    "cuda": _cuda,
    "cuda-ownfft": _cuda_own_fft,
}

#: Names accepted by ``get_backend``.
BACKENDS = tuple(_FACTORIES)


def get_backend(backend: Union[str, Backend, None] = None) -> Backend:
    """Return a backend object: pass one through, or build one from its name.

    Raises ``ValueError`` for an unknown name and ``RuntimeError`` (from the backend's
    own import) when a known backend cannot run here, e.g. ``cuda`` without a GPU.
    """
    if backend is None:
        return NumpyBackend()
    if isinstance(backend, Backend):
        return backend
    if not isinstance(backend, str):
        raise TypeError(f"backend must be a name {BACKENDS} or a Backend object, got {type(backend).__name__}")
    try:
        factory = _FACTORIES[backend]
    except KeyError:
        raise ValueError(f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}") from None
    return factory()


__all__ = ["Backend", "array_module", "to_host", "NumpyBackend", "get_backend", "BACKENDS"]
