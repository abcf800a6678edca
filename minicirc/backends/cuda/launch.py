"""Launching the Numba kernels on CuPy arrays with as little host work per launch as is safe.

Numba's own path, ``kernel[grid, block, stream](*args)``, costs tens of microseconds per launch
on CuPy arrays: each argument is wrapped into a ``DeviceNDArray`` (``as_cuda_array``, which
builds CuPy's ``__cuda_array_interface__`` dict and Numba's pointer objects), the dispatcher
types every argument again, and ``_Kernel._prepare_args`` turns each array into its kernel
parameters. For a layer that launches a dozen small kernels per step this is most of the time.

``launch`` takes that path once per (kernel, device, argument kinds) -- the kinds being dtype,
ndim and contiguity of each array, the Python type of each scalar, which is what Numba's
typing sees -- so the dispatcher compiles and launches as ever. It then looks up the compiled
overload for those argument types and checks that the parameters it would build itself from
the CuPy arrays (``kernel_params``) equal, value for value and ctypes type for type, what
Numba's ``_prepare_args`` builds for the same call. Only then are later launches of that kind
made directly: parameters from ``a.data.ptr``, ``a.shape``, ``a.strides`` and one
``driver.launch_kernel`` call, the very function Numba's ``_Kernel.launch`` ends in.

Anything unexpected -- a Numba version whose internals differ (``_prepare_args``,
``typeof_pyval``, ``overloads``, ``_codelibrary``, ``driver.launch_kernel``), a debug or
cooperative kernel, a mismatch in the check, an exception in a direct launch -- turns the
direct path off for that kind, with the reason recorded in ``status()``, and the launch goes
through the dispatcher. ``MINICIRC_CUDA_FAST_LAUNCH=0`` turns it off altogether. Host NumPy
arrays (Numba's CUDA simulator) always take the dispatcher's path.
"""
from __future__ import annotations

import ctypes
import os
from typing import Any, Dict, List, Optional, Tuple

import numpy as np

#: Direct launches on (default on; ``MINICIRC_CUDA_FAST_LAUNCH=0`` to use Numba's path only).
ENABLED = os.environ.get("MINICIRC_CUDA_FAST_LAUNCH", "1") not in ("0", "")

_c_intp = ctypes.c_ssize_t
_c_void_p = ctypes.c_void_p
_c_int64 = ctypes.c_int64

#: (kernel, device, kinds) -> _Direct, or None where the direct path is off for that kind.
_ENTRIES: Dict[Tuple[Any, ...], Optional["_Direct"]] = {}
#: Why the direct path is off, per kernel name and kinds (for the profile and the tests).
_REASONS: Dict[str, str] = {}
_COUNTS = {"direct": 0, "dispatcher": 0}


def device_view(a: Any) -> Any:
    """What Numba's own launch path is handed: host arrays as they are, GPU arrays as views.

    ``sync=False``: by default Numba synchronises the exporting stream every time it wraps a
    foreign array, which would stall the host at each launch. The launchers run on the stream
    CuPy works on, so stream order already makes the data ready.
    """
    if isinstance(a, np.ndarray):
        # The simulator copies host arguments as one block, as a real launch would; outputs
        # are always allocated contiguous here, so only strided inputs are ever copied.
        return a if a.flags.c_contiguous or a.flags.f_contiguous else np.ascontiguousarray(a)
    if hasattr(a, "__cuda_array_interface__"):
        from numba import cuda

        return cuda.as_cuda_array(a, sync=False)
    return a                                            # a scalar argument


def _kind(a: Any) -> Any:
    """What decides the compiled overload: for an array its dtype, ndim and contiguity."""
    if isinstance(a, (int, float, np.generic)):
        return type(a)
    f = a.flags
    return (a.dtype, a.ndim, f.c_contiguous, f.f_contiguous)


def kernel_params(args: Tuple[Any, ...]) -> List[Any]:
    """The kernel parameters of a launch, as Numba's ``_Kernel._prepare_args`` builds them.

    An array (anything with ``data.ptr``, ``shape``, ``strides``, ``size``, ``itemsize`` and
    ``flags``, i.e. a CuPy array) becomes meminfo, parent, nitems, itemsize, data, then its
    shape and strides; a C-contiguous array's strides are the ones Numba derives from its shape
    (CuPy exports none for it), any other array's are its own. A Python ``int`` is an int64.
    """
    params: List[Any] = []
    for a in args:
        if isinstance(a, (bool, float, np.generic)):
            raise TypeError(f"no direct launch for a {type(a).__name__} argument")
        if isinstance(a, int):
            params.append(_c_int64(a))
            continue
        shape = a.shape
        itemsize = a.itemsize
        params += [_c_void_p(0), _c_void_p(0), _c_intp(a.size), _c_intp(itemsize), _c_void_p(a.data.ptr)]
        params += [_c_intp(s) for s in shape]
        if a.flags.c_contiguous:
            strides = [0] * len(shape)
            step = itemsize
            for ax in range(len(shape) - 1, -1, -1):
                strides[ax] = step
                step *= shape[ax]
            params += [_c_intp(s) for s in strides]
        else:
            params += [_c_intp(s) for s in a.strides]
    return params


def same_params(got: List[Any], want: List[Any]) -> bool:
    """Equal lists of ctypes values: same length, ctypes types and values."""
    return len(got) == len(want) and all(
        type(g) is type(w) and g.value == w.value for g, w in zip(got, want))


#: id(stream) -> (stream, handle): Numba stream objects whose driver handle has been checked.
_STREAMS: Dict[int, Tuple[Any, int]] = {}


def stream_handle(stream: Any) -> int:
    """The driver handle of a Numba stream (0: the legacy default), as ``_Kernel.launch`` takes it.

    A stream other than 0 must be CuPy's current one (the backend's launchers pass exactly
    that) and its handle must equal CuPy's pointer; otherwise this raises, and the launch goes
    through Numba's own path.
    """
    if not stream:
        return 0
    rec = _STREAMS.get(id(stream))
    if rec is not None and rec[0] is stream:
        return rec[1]
    import cupy

    handle = stream and stream.handle.value or 0            # as _Kernel.launch computes it
    if int(handle) != cupy.cuda.get_current_stream().ptr:
        raise RuntimeError(f"stream handle {handle!r} is not CuPy's current stream")
    _STREAMS[id(stream)] = (stream, int(handle))
    return int(handle)


class _Direct:
    """One verified overload: launches it with ``driver.launch_kernel``."""

    def __init__(self, handle: Any, launch_kernel: Any) -> None:
        self.handle = handle
        self.launch_kernel = launch_kernel

    def __call__(self, grid: Tuple[int, int, int], block: Tuple[int, int, int], stream: Any,
                 sharedmem: int, args: Tuple[Any, ...]) -> None:
        self.launch_kernel(self.handle, grid[0], grid[1], grid[2], block[0], block[1], block[2],
                           sharedmem, stream_handle(stream), kernel_params(args), cooperative=False)


def _name(kernel: Any) -> str:
    return getattr(getattr(kernel, "py_func", None), "__name__", None) or repr(kernel)


def _driver_launch_kernel() -> Any:
    """Numba's ``driver.launch_kernel`` (the last step of ``_Kernel.launch``)."""
    from numba.cuda.cudadrv import driver

    return driver.launch_kernel


def _verify(kernel: Any, views: List[Any], args: Tuple[Any, ...], stream: Any) -> "_Direct":
    """The direct launcher for this call's overload, after checking its parameters; raises if unsure."""
    launch_kernel = _driver_launch_kernel()
    stream_handle(stream)
    types = tuple(kernel.typeof_pyval(v) for v in views)
    overload = kernel.overloads[types]
    if getattr(overload, "cooperative", True) or getattr(overload, "debug", True):
        raise RuntimeError("cooperative or debug kernel (or a Numba without those attributes)")
    if getattr(overload, "extensions", None):
        raise RuntimeError("kernel has argument extensions")
    want: List[Any] = []
    for t, v in zip(overload.argument_types, views):
        overload._prepare_args(t, v, stream, [], want)
    got = kernel_params(args)
    if not same_params(got, want):
        raise RuntimeError(f"parameters differ from Numba's: {[p.value for p in got]} vs "
                           f"{[getattr(p, 'value', p) for p in want]}")
    return _Direct(overload._codelibrary.get_cufunc().handle, launch_kernel)


def launch(kernel: Any, grid: Tuple[int, int, int], block: Tuple[int, int, int], stream: Any,
           sharedmem: int, *args: Any) -> None:
    """``kernel[grid, block, stream, sharedmem](*args)`` on CuPy (or, simulated, NumPy) arrays."""
    if ENABLED and not any(isinstance(a, np.ndarray) for a in args):
        try:
            import cupy

            key = (kernel, cupy.cuda.runtime.getDevice(), tuple(_kind(a) for a in args))
            entry = _ENTRIES.get(key, False)
        except Exception as e:                              # unhashable or odd argument: Numba's path
            key, entry = None, None
            _REASONS.setdefault(_name(kernel), f"no key: {type(e).__name__}: {e}")
        if entry:
            try:
                entry(grid, block, stream, sharedmem, args)
                _COUNTS["direct"] += 1
                return
            except Exception as e:                          # raised before the launch went in
                _ENTRIES[key] = None
                _REASONS[f"{_name(kernel)} {key[2]}"] = f"direct launch failed: {type(e).__name__}: {e}"
        elif entry is False:
            views = [device_view(a) for a in args]
            kernel[grid, block, stream, sharedmem](*views)  # compiles on first use, launches
            _COUNTS["dispatcher"] += 1
            try:
                _ENTRIES[key] = _verify(kernel, views, args, stream)
            except Exception as e:
                _ENTRIES[key] = None
                _REASONS[f"{_name(kernel)} {key[2]}"] = f"{type(e).__name__}: {e}"
            return
    kernel[grid, block, stream, sharedmem](*[device_view(a) for a in args])
    _COUNTS["dispatcher"] += 1


def status() -> Dict[str, Any]:
    """How launches went so far: counts by path, kinds with a direct path, and why not elsewhere."""
    return {"enabled": ENABLED, **_COUNTS,
            "direct_kinds": sum(1 for v in _ENTRIES.values() if v is not None),
            "off": dict(_REASONS)}


def reset() -> None:
    """Forget every verified overload (tests; a later launch verifies again)."""
    _ENTRIES.clear()
    _REASONS.clear()
    _STREAMS.clear()
    _COUNTS.update(direct=0, dispatcher=0)
