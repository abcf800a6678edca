"""Launching the Numba kernels: CuPy arrays go to Numba's dispatcher as they are.

``launch(kernel, grid, block, stream, shmem, *args)`` is ``kernel[grid, block, stream,
shmem](*args)``, with CuPy arrays handed over directly (Numba wraps each through its
``__cuda_array_interface__``, so strided views keep their strides) and host NumPy arrays, under
Numba's CUDA simulator, as they are except that a strided one is made contiguous first.

Why this path, as measured by ``minicirc.bench.gpu_profile`` on an NVIDIA H100 (numba-cuda
0.30.4, CuPy 14.2, 2026-11-27), host microseconds per launch of a trivial kernel:

=============================================================  ==============  ==============
path                                                           batch 1024,     batch 128,
                                                               n 4096          n 1024
=============================================================  ==============  ==============
(a) dispatcher on ``cuda.as_cuda_array(a, sync=False)`` views  106             191
(b) dispatcher on the CuPy arrays directly                     65              124
(c) the former "direct launch" path (fell back, see below)     113             210
(d) the same with the direct path switched off                 102             194
=============================================================  ==============  ==============

(b) is the cheapest path that worked, so it is the only one. The former direct path (verify
one dispatcher launch per argument kind, then build the kernel parameters by hand and call
``numba.cuda.cudadrv.driver.launch_kernel``) never engaged on that version: every kind fell back
with ``AttributeError: module 'numba.cuda.cudadrv.driver' has no attribute 'launch_kernel'``,
so it only added its own bookkeeping, (c) over (d). It was removed rather than ported to
another Numba internal.

Note: handed a foreign array, Numba synchronises the stream that array's interface names
(``NUMBA_CUDA_ARRAY_INTERFACE_SYNC``, on by default) -- the ``sync=False`` in (a) avoided that.
(b) was still the faster in the measurement above, but whole-layer timings are what show
whether the host now waits for the GPU between launches.
"""
from __future__ import annotations

from typing import Any, Tuple

import numpy as np


def _host_arg(a: Any) -> Any:
    # The simulator copies host arguments as one block, as a real launch would; outputs are
    # always allocated contiguous, so only strided inputs are ever copied.
    if isinstance(a, np.ndarray) and not (a.flags.c_contiguous or a.flags.f_contiguous):
        return np.ascontiguousarray(a)
    return a


def launch(kernel: Any, grid: Tuple[int, int, int], block: Tuple[int, int, int], stream: Any,
           sharedmem: int, *args: Any) -> None:
    """``kernel[grid, block, stream, sharedmem](*args)`` on CuPy (or, simulated, NumPy) arrays."""
    kernel[grid, block, stream, sharedmem](*[_host_arg(a) for a in args])
