"""Launching the Numba kernels: Numba compiles and checks, then ``cuda.core`` launches.

``launch(kernel, grid, block, stream, shmem, *args)`` means ``kernel[grid, block, stream,
shmem](*args)``. Host NumPy arrays (Numba's CUDA simulator) take exactly that path, a strided
one made contiguous first. CuPy arrays on a GPU take it too the first time each kind of
argument list (dtypes, ranks, contiguity) meets each kernel: Numba's dispatcher types the
arguments, compiles, and launches. From then on a ``Direct`` launcher for that kind does what
Numba's own ``_Kernel.launch`` does after all that -- flatten each array into the kernel's
parameters and call ``cuda.core.launch`` -- without the per-call work in front of it. An
argument list with a scalar in it stays with the dispatcher on every call (``flatten`` knows
arrays only), which is why minicirc's kernels take nothing but arrays.

Why, as measured by ``benchmarks.gpu_profile`` on an NVIDIA H100 (numba-cuda 0.30.4,
CuPy 14.2, 2026-11-27): a launch through the dispatcher cost 65-124 us of host time for a
trivial kernel, and the launchers around it brought a product to 144-199 us, while the GPU
work was a few microseconds. In numba-cuda 0.30.4 that per-call work is: typing each argument
from its ``__cuda_array_interface__``, resolving the overload, building a launch configuration
and a ``cuda.core`` stream object, and exporting every CuPy array through DLPack.

The shortcut is verified, never assumed: when a ``Direct`` launcher is built, it flattens the
arguments of that first call itself and compares the result with what Numba's own
``_prepare_args`` produces for them (pointer, sizes, shape and strides of each array, in
Numba's order). Any difference, or any missing piece of Numba or ``cuda.core``, and that kind
of call stays on the dispatcher for good, with the reason kept in ``Direct.fallback`` (the GPU
profile prints them). Kernels run on the stream given, which the CUDA backend sets to CuPy's
current stream, so nothing needs a host synchronisation to stay in order.
"""
from __future__ import annotations

import numbers
from typing import Any, Dict, List, Optional, Tuple

import numpy as np

#: id(kernel dispatcher) -> (the dispatcher, {argument kind: Direct}). A cache of compiled-kernel
#: handles, as Numba keeps its own. Keyed by identity (a dispatcher need not be hashable or
#: weakly referable) and holding the dispatcher, so the id stays its own; the kernel families
#: are built once per precision and kept anyway (kernels.product_kernels).
_DIRECT: Dict[int, Tuple[Any, Dict[Tuple[Any, ...], "Direct"]]] = {}


def _host_arg(a: Any) -> Any:
    # The simulator copies host arguments as one block, as a real launch would; outputs are
    # always allocated contiguous, so only strided inputs are ever copied.
    if isinstance(a, np.ndarray) and not (a.flags.c_contiguous or a.flags.f_contiguous):
        return np.ascontiguousarray(a)
    return a


def _is_array(a: Any) -> bool:
    """An array argument, which ``flatten`` can turn into Numba's parameters (a scalar cannot)."""
    return not isinstance(a, (numbers.Number, np.generic)) and hasattr(a, "strides")


def _kind(a: Any) -> Tuple[Any, ...]:
    """What Numba's type of an array argument depends on: dtype, rank and layout."""
    return (a.dtype.char, a.ndim, a.flags.c_contiguous, a.flags.f_contiguous)


def flatten(a: Any) -> List[int]:
    """An array argument as Numba's kernel parameters: meminfo, parent, size, itemsize, data,
    shape, strides (bytes). Numba's ``_Kernel._prepare_args`` builds the same list."""
    return [0, 0, a.size, a.itemsize, a.data.ptr, *a.shape, *a.strides]


def _same_parameters(ours: List[int], numba_s: List[Any], args: Tuple[Any, ...]) -> Optional[str]:
    """None if the two parameter lists agree, else what differs.

    The stride of an axis of extent 1 is never used to address memory, and Numba may compute
    it from the shape where CuPy keeps the parent's, so those entries are not compared.
    """
    if len(ours) != len(numba_s):
        return f"{len(numba_s)} parameters from Numba, {len(ours)} flattened"
    free = set()
    at = 0
    for a in args:
        base = at + 5 + a.ndim                       # where this array's strides start
        free.update(base + i for i, extent in enumerate(a.shape) if extent == 1)
        at += 5 + 2 * a.ndim
    for i, (x, y) in enumerate(zip(ours, numba_s)):
        if i not in free and int(x) != int(getattr(y, "value", y)):
            return f"parameter {i}: Numba passes {y!r}, flattened {x!r}"
    return None


def _cuda_core_api() -> Tuple[Any, Any, Any]:
    """What a launch needs: cuda.core's ``launch`` and ``LaunchConfig``, and the conversion of
    a Numba stream into a cuda.core one (Numba's own, so the two paths use the same stream)."""
    from cuda.core import LaunchConfig, launch
    from numba.cuda.cudadrv.driver import _to_core_stream

    return launch, LaunchConfig, _to_core_stream


class Direct:
    """One kernel, one kind of argument list: ``cuda.core.launch`` on flattened parameters."""

    def __init__(self, kernel: Any, stream: Any, args: Tuple[Any, ...], api: Any = None) -> None:
        self.fallback: Optional[str] = None
        self.launches = 0
        try:
            core_launch, LaunchConfig, to_core_stream = api or _cuda_core_api()
            types = tuple(kernel.typeof_pyval(a) for a in args)
            # The dispatcher may have run an overload compiled for compatible types (a 'C' array
            # on an 'A' signature); compile() returns the exact one, building it if need be.
            compiled = kernel.overloads.get(types) or kernel.compile(types)
            if (compiled.debug or compiled.cooperative or compiled.extensions
                    or getattr(compiled, "launch_config_sensitive", False)):
                raise RuntimeError("a debug, cooperative, extended or launch-config-sensitive kernel "
                                   "needs Numba's launch")
            numba_params: List[Any] = []
            retain: List[Any] = []
            core_stream = to_core_stream(stream)
            for t, v in zip(compiled.argument_types, args):
                compiled._prepare_args(t, v, core_stream, retain, numba_params)
            ours = [p for a in args for p in flatten(a)]
            differs = _same_parameters(ours, numba_params, args)
            if differs:
                raise RuntimeError(f"the flattened arguments differ from Numba's: {differs}")
            self._kernel = compiled._codelibrary.get_cufunc().kernel
            self._launch, self._config_type, self._to_core_stream = core_launch, LaunchConfig, to_core_stream
            self._streams: Dict[Any, Any] = {stream: core_stream}
            self._configs: Dict[Tuple[Any, ...], Any] = {}
        except Exception as e:  # an older or newer Numba or cuda.core: the dispatcher still works
            self.fallback = f"{type(e).__name__}: {e}"

    def _stream(self, stream: Any) -> Any:
        # The backend hands over 0 or one Numba stream object per CuPy stream, the same object
        # each time: convert each once, as Numba does on every launch.
        core = self._streams.get(stream)
        if core is None:
            core = self._streams[stream] = self._to_core_stream(stream)
        return core

    def __call__(self, grid: Tuple[int, int, int], block: Tuple[int, int, int], stream: Any,
                 sharedmem: int, args: Tuple[Any, ...]) -> None:
        key = (grid, block, sharedmem)
        config = self._configs.get(key)
        if config is None:
            if len(self._configs) > 256:                 # grids follow the sizes: keep it bounded
                self._configs.clear()
            config = self._configs[key] = self._config_type(grid=grid, block=block, shmem_size=sharedmem)
        params: List[int] = []
        for a in args:
            params += flatten(a)
        self._launch(self._stream(stream), config, self._kernel, *params)
        self.launches += 1


def launch(kernel: Any, grid: Tuple[int, int, int], block: Tuple[int, int, int], stream: Any,
           sharedmem: int, *args: Any, api: Any = None) -> None:
    """``kernel[grid, block, stream, sharedmem](*args)`` on CuPy (or, simulated, NumPy) arrays.

    ``api`` replaces ``(cuda.core.launch, cuda.core.LaunchConfig, to_core_stream)``, for tests.
    """
    if not args or isinstance(args[0], np.ndarray):
        kernel[grid, block, stream, sharedmem](*[_host_arg(a) for a in args])
        return
    if not all(_is_array(a) for a in args):       # a scalar: Numba's own launch, every time
        kernel[grid, block, stream, sharedmem](*args)
        return
    entry = _DIRECT.get(id(kernel))
    if entry is None:
        entry = _DIRECT[id(kernel)] = (kernel, {})
    kinds = entry[1]
    key = tuple(_kind(a) for a in args)
    direct = kinds.get(key)
    if direct is None:
        kernel[grid, block, stream, sharedmem](*args)    # types, compiles and launches
        kinds[key] = Direct(kernel, stream, args, api)
        return
    if direct.fallback is None:
        try:
            direct(grid, block, stream, sharedmem, args)
            return
        except Exception as e:  # refused before anything ran: try Numba's own launch
            reason = f"direct launch failed: {type(e).__name__}: {e}"
        # Only if Numba's launch succeeds was the direct path at fault (and it is dropped for
        # this kind). If Numba's fails too -- a sticky CUDA error from an earlier kernel, an
        # out-of-memory -- its error propagates and the direct path stays: blaming it would
        # send every later launch of this kind through the slow path for nothing.
        kernel[grid, block, stream, sharedmem](*args)
        direct.fallback = reason
        return
    kernel[grid, block, stream, sharedmem](*args)


def report() -> List[Dict[str, Any]]:
    """Every kernel and argument kind seen so far: launches taken directly, or why not."""
    rows = []
    for kernel, kinds in list(_DIRECT.values()):
        for key, d in kinds.items():
            name = getattr(getattr(kernel, "py_func", None), "__name__", None) or repr(kernel)
            rows.append({"kernel": name, "kind": key,
                         "direct_launches": d.launches, "fallback": d.fallback})
    return rows
