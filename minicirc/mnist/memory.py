"""What a model will weigh, from its description alone: the shapes of its arrays and the
memory they need, computed before anything is built.

A checkpoint's arrays are checked against ``array_shapes`` before a model is built from its
metadata (``schema.check_arrays``), and ``memory_shortfall`` refuses a model that cannot fit
before the first allocation (``Trainer``, the schema), with the size it would need.
"""
from __future__ import annotations

import math
import os
from typing import Any, Dict, Optional, Tuple

import numpy as np

from .models import CNN_FEATURES, describe


def array_shapes(arch: Dict[str, Any]) -> Dict[str, Tuple[int, ...]]:
    """``{"param/<name>": shape, "buffer/<name>": shape}`` of the model ``arch`` describes,
    named as ``Sequential.named_parameters`` names them, computed without building anything.

    ``arch`` as ``architecture`` returns it. A checkpoint's arrays are checked against these
    before a model is built from its metadata, and ``model_bytes`` sums them.
    """
    h, L = arch["hidden"], arch["layers"]
    per_hidden = 3 if arch["dropout"] > 0 else 2           # layer, ReLU[, Dropout]
    shapes: Dict[str, Tuple[int, ...]] = {}
    if arch["kind"] == "cnn":
        # Conv, MaxPool, ReLU twice, then Flatten: the head is layer 7 (build_cnn).
        for j, (c_in, c_out) in ((0, (1, 20)), (3, (20, 50))):
            shapes[f"param/{j}.W"], shapes[f"param/{j}.b"] = (c_out, c_in, 5, 5), (c_out,)
        first, d, fc = 7, CNN_FEATURES, arch["head"]
    else:
        first, d, fc = 0, arch["d_in"], arch["kind"]
    for i in range(L):
        j = first + i * per_hidden
        shapes.update(_hidden_shapes(f"{j}.", "dense" if fc == "hybrid" and i == 0 else fc, d, h, arch["block"]))
        d = h
    out = first + L * per_hidden
    shapes[f"param/{out}.W"], shapes[f"param/{out}.b"] = (d, arch["classes"]), (arch["classes"],)
    return shapes


def _hidden_shapes(prefix: str, kind: str, d: int, h: int, k: Optional[int]) -> Dict[str, Tuple[int, ...]]:
    """The arrays of one hidden layer ``d -> h`` of ``kind`` (a hybrid's circulant layers are circulant)."""
    if kind == "dense":
        shapes = {f"param/{prefix}W": (d, h)}
    elif kind == "block":
        p, q = -(-h // k), -(-d // k)
        shapes = {f"param/{prefix}r": (p, q, k), f"buffer/{prefix}signs": (q * k,)}
    else:
        shapes = {f"param/{prefix}r": (max(d, h),), f"buffer/{prefix}signs": (max(d, h),)}
    return {**shapes, f"param/{prefix}b": (h,)}


def model_bytes(arch: Dict[str, Any], dtype: Any = np.float32, copies: int = 1) -> int:
    """Bytes of the parameters and buffers of ``arch`` in ``dtype``, times ``copies``."""
    itemsize = np.dtype(dtype).itemsize
    return copies * itemsize * sum(math.prod(s) for s in array_shapes(arch).values())


def available_memory() -> Optional[int]:
    """Bytes this process could still allocate (Linux's MemAvailable; else all of the RAM)."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def memory_shortfall(arch: Dict[str, Any], dtype: Any = np.float32, copies: int = 1) -> Optional[str]:
    """Why ``copies`` of the model's arrays cannot fit in the memory left, or None if they can.

    Computed from the sizes alone, so that a model too large is refused before any allocation
    (a lower bound: activations come on top). Training holds ``copies`` = 2 (parameters and
    gradients) plus the optimizer's slots; evaluation 1.
    """
    need, have = model_bytes(arch, dtype, copies), available_memory()
    if have is None or need <= have:
        return None
    sizes = (f", hidden={arch['hidden']:,}," if arch["kind"] == "cnn" else
             f" with hidden={arch['hidden']:,} and layers={arch['layers']:,}")
    return (f"the {describe(arch)}{sizes} needs at "
            f"least {_size(need)} of memory ({copies} x {_size(need // copies)} of {np.dtype(dtype).name} "
            f"parameters and buffers), and {_size(have)} is available")


def _size(n: float) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if n < 1024 or unit == "PiB":
            return f"{n:,.0f} {unit}" if unit == "bytes" else f"{n:,.1f} {unit}"
        n /= 1024
    return ""
