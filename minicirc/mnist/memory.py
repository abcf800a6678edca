"""What a model will weigh, from its description alone: the shapes of its arrays and the
memory they need, computed before anything is built.

A checkpoint's arrays are checked against ``array_shapes`` before a model is built from its
metadata (``schema.check_arrays``), and ``memory_shortfall`` refuses a model that cannot fit
before the first allocation (``Trainer``, the schema), with the size it would need.
"""
from __future__ import annotations

import math
import os
from typing import Any, Callable, Dict, Iterator, Optional, Tuple

import numpy as np

from .models import CNN_FEATURES, describe


def array_shapes(arch: Dict[str, Any]) -> Dict[str, Tuple[int, ...]]:
    """``{"param/<name>": shape, "buffer/<name>": shape}`` of the model ``arch`` describes,
    named as ``Sequential.named_parameters`` names them, computed without building anything.

    ``arch`` as ``architecture`` returns it. A checkpoint's arrays are checked against these
    before a model is built from its metadata.
    """
    return dict(iter_array_shapes(arch))


def iter_array_shapes(arch: Dict[str, Any]) -> Iterator[Tuple[str, Tuple[int, ...]]]:
    """``array_shapes``' items one at a time, in the model's order, so that a reader looking
    for the first few missing arrays of a description with millions of layers stops early."""
    h, L = arch["hidden"], arch["layers"]
    per_hidden = 3 if arch["dropout"] > 0 else 2           # layer, ReLU[, Dropout]
    if arch["kind"] == "cnn":
        # Conv, MaxPool, ReLU twice, then Flatten: the head is layer 7 (build_cnn).
        for j, (c_in, c_out) in ((0, (1, 20)), (3, (20, 50))):
            yield f"param/{j}.W", (c_out, c_in, 5, 5)
            yield f"param/{j}.b", (c_out,)
        first, d = 7, CNN_FEATURES
    else:
        first, d = 0, arch["d_in"]
    for i in range(L):
        yield from _hidden_shapes(f"{first + i * per_hidden}.", _hidden_kind(arch, i), d, h, arch["block"]).items()
        d = h
    out = first + L * per_hidden
    yield f"param/{out}.W", (d, arch["classes"])
    yield f"param/{out}.b", (arch["classes"],)


def _hidden_kind(arch: Dict[str, Any], i: int) -> str:
    """The kind of hidden layer ``i``: the CNN's head, or the MLP's kind (a hybrid's first is dense)."""
    if arch["kind"] == "cnn":
        return arch["head"]
    return "dense" if arch["kind"] == "hybrid" and i == 0 else arch["kind"]


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


def _weigh(arch: Dict[str, Any], measure: Callable[[Dict[str, Tuple[int, ...]]], int]) -> int:
    """``measure`` of the model's arrays, summed with each kind of layer measured once: every
    hidden layer after the second has the second's shapes, so a description that claims
    millions of layers costs no more to weigh (and refuse) than one with two."""
    L = arch["layers"]
    total = measure(array_shapes({**arch, "layers": min(L, 2)}))
    if L > 2:
        h = arch["hidden"]
        total += (L - 2) * measure(_hidden_shapes("", _hidden_kind(arch, 2), h, h, arch["block"]))
    return total


def array_count(arch: Dict[str, Any]) -> int:
    """How many arrays (parameters and buffers) ``array_shapes`` would list, in constant time."""
    return _weigh(arch, len)


def model_bytes(arch: Dict[str, Any], dtype: Any = np.float32, copies: int = 1) -> int:
    """Bytes of the parameters and buffers of ``arch`` in ``dtype``, times ``copies``."""
    numbers = _weigh(arch, lambda shapes: sum(math.prod(s) for s in shapes.values()))
    return copies * np.dtype(dtype).itemsize * numbers


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


#: Python objects per hidden layer, beyond its arrays' numbers: the layer and its ReLU with
#: their dicts and array headers. Building dense, circulant and block MLPs of 20,000 one-unit
#: layers took 1.5 to 1.6 KB a layer, before any gradient or optimizer slot; 2 KiB keeps the
#: estimate near a lower bound. Only a description with millions of tiny layers notices it.
LAYER_OBJECT_BYTES = 2048


def memory_shortfall(arch: Dict[str, Any], dtype: Any = np.float32, copies: int = 1) -> Optional[str]:
    """Why ``copies`` of the model's arrays cannot fit in the memory left, or None if they can.

    Computed from the sizes alone, so that a model too large is refused before any allocation
    (a lower bound: activations come on top). Training holds ``copies`` = 2 (parameters and
    gradients) plus the optimizer's slots; evaluation 1. The layers' own objects count too,
    so that ``layers=10**8`` of one unit each is refused, not built for an hour.
    """
    arrays, objects = model_bytes(arch, dtype, copies), LAYER_OBJECT_BYTES * arch["layers"]
    need, have = arrays + objects, available_memory()
    if have is None or need <= have:
        return None
    sizes = (f", hidden={arch['hidden']:,}," if arch["kind"] == "cnn" else
             f" with hidden={arch['hidden']:,} and layers={arch['layers']:,}")
    layer_objects = (f", and {_size(objects)} for the objects of its {arch['layers']:,} hidden layers"
                     if objects * 10 >= need else "")
    return (f"the {describe(arch)}{sizes} needs at "
            f"least {_size(need)} of memory ({copies} x {_size(arrays // copies)} of {np.dtype(dtype).name} "
            f"parameters and buffers{layer_objects}), and {_size(have)} is available")


def _size(n: float) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if n < 1024 or unit == "PiB":
            return f"{n:,.0f} {unit}" if unit == "bytes" else f"{n:,.1f} {unit}"
        n /= 1024
    return ""
