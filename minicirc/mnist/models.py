"""The MLPs of the MNIST experiments, built from a JSON-able architecture description.

A checkpoint stores the description, so a model can be rebuilt before its weights are
loaded. ``kind``:

- ``dense``:     784 -> hidden (dense) -> ... -> 10, ``layers`` hidden layers.
- ``circulant``: Circulant(784, hidden) first (n = max(784, hidden): the input zero-padded
                 to ``hidden`` when that is wider, the output cropped to it when narrower),
                 ``layers`` circulant hidden layers with sign flips in all, a dense output
                 layer: Cheng et al.'s circulant MLP.
- ``hybrid``:    a dense first layer 784 -> hidden, then ``layers - 1`` circulant layers.
- ``block``:     like ``circulant`` with block-circulant layers of block size ``block``.

Every hidden layer is followed by ReLU and, if ``dropout > 0``, Dropout.
"""
from __future__ import annotations

import math
import os
from typing import Any, Dict, List, Optional, Tuple

import numpy as np

from ..backends import get_backend
from ..layers import BlockCirculant, Circulant, Dense, Dropout, Layer, ReLU, Sequential

KINDS = ("dense", "circulant", "hybrid", "block")


def architecture(kind: str = "circulant", *, hidden: int = 1024, layers: int = 2,
                 sign_flip: bool = True, dropout: float = 0.0, block: Optional[int] = None,
                 d_in: int = 784, classes: int = 10) -> Dict[str, Any]:
    """Validate and return the description ``build_mlp`` takes."""
    if kind not in KINDS:
        raise ValueError(f"unknown model kind {kind!r}; choose one of {', '.join(KINDS)}")

    def whole(v: Any) -> bool:                      # 2.5 must not quietly become 2
        return isinstance(v, (int, np.integer)) and not isinstance(v, bool)

    for name, v in (("hidden", hidden), ("layers", layers), ("d_in", d_in), ("classes", classes)):
        if not whole(v) or v < 1:
            raise ValueError(f"{name} must be a whole number >= 1, got {v!r}")
    if kind == "block" and not (whole(block) and block >= 1):
        raise ValueError(f"kind 'block' needs a block size, a whole number >= 1, got {block!r}")
    if isinstance(dropout, bool) or not isinstance(dropout, (int, float, np.floating)) \
            or not 0.0 <= dropout < 1.0:
        raise ValueError(f"dropout must be a number in [0, 1), got {dropout!r}")
    return {"kind": kind, "hidden": int(hidden), "layers": int(layers), "sign_flip": bool(sign_flip),
            "dropout": float(dropout), "block": None if block is None else int(block),
            "d_in": int(d_in), "classes": int(classes)}


def build_mlp(arch: Dict[str, Any], *, seed: int = 0, dtype: Any = np.float32,
              backend: Any = None) -> Sequential:
    """Build the Sequential that ``arch`` describes; every generator is spawned from ``seed``."""
    arch = architecture(**arch)
    kind, h, L = arch["kind"], arch["hidden"], arch["layers"]
    seeds = iter(np.random.SeedSequence(seed).spawn(4 * L + 4))
    # One backend object for every layer: built from a name per layer, a CUDA model would
    # hold a backend (with its own twiddle tables and stream handles) in each.
    common = {"dtype": dtype, "backend": get_backend(backend)}

    def hidden_layer(i: int, d_in: int) -> Layer:
        if kind == "dense" or (kind == "hybrid" and i == 0):
            return Dense(d_in, h, rng=np.random.default_rng(next(seeds)), gain=2.0, **common)
        if kind == "block":
            return BlockCirculant(d_in, h, arch["block"], sign_flip=arch["sign_flip"],
                                  rng=np.random.default_rng(next(seeds)), **common)
        # r ~ N(0, 1/d_in), gain 1: the design notes' reference recipe (N(0, 1/n) for a square
        # layer), kept as given -- unlike the dense layers' He gain 2 against ReLU, it was not
        # tuned here. The sign flip keeps rows decorrelated.
        return Circulant(d_in, h, sign_flip=arch["sign_flip"], rng=np.random.default_rng(next(seeds)), **common)

    stack: List[Layer] = []
    d = arch["d_in"]
    for i in range(L):
        stack.append(hidden_layer(i, d))
        stack.append(ReLU(**common))
        if arch["dropout"] > 0:
            stack.append(Dropout(arch["dropout"], rng=np.random.default_rng(next(seeds)), **common))
        d = h
    stack.append(Dense(d, arch["classes"], rng=np.random.default_rng(next(seeds)), **common))
    return Sequential(*stack)


def array_shapes(arch: Dict[str, Any]) -> Dict[str, Tuple[int, ...]]:
    """``{"param/<name>": shape, "buffer/<name>": shape}`` of the model ``arch`` describes,
    named as ``Sequential.named_parameters`` names them, computed without building anything.

    ``arch`` as ``architecture`` returns it. A checkpoint's arrays are checked against these
    before a model is built from its metadata, and ``model_bytes`` sums them.
    """
    kind, h, L, k = arch["kind"], arch["hidden"], arch["layers"], arch["block"]
    per_hidden = 3 if arch["dropout"] > 0 else 2           # layer, ReLU[, Dropout]
    shapes: Dict[str, Tuple[int, ...]] = {}
    d = arch["d_in"]
    for i in range(L):
        j = i * per_hidden
        if kind == "dense" or (kind == "hybrid" and i == 0):
            shapes[f"param/{j}.W"] = (d, h)
        elif kind == "block":
            p, q = -(-h // k), -(-d // k)
            shapes[f"param/{j}.r"], shapes[f"buffer/{j}.signs"] = (p, q, k), (q * k,)
        else:
            shapes[f"param/{j}.r"] = shapes[f"buffer/{j}.signs"] = (max(d, h),)
        shapes[f"param/{j}.b"] = (h,)
        d = h
    shapes[f"param/{L * per_hidden}.W"] = (d, arch["classes"])
    shapes[f"param/{L * per_hidden}.b"] = (arch["classes"],)
    return shapes


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
    return (f"the {arch['kind']} MLP with hidden={arch['hidden']:,} and layers={arch['layers']:,} needs at "
            f"least {_size(need)} of memory ({copies} x {_size(need // copies)} of {np.dtype(dtype).name} "
            f"parameters and buffers), and {_size(have)} is available")


def _size(n: float) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if n < 1024 or unit == "PiB":
            return f"{n:,.0f} {unit}" if unit == "bytes" else f"{n:,.1f} {unit}"
        n /= 1024
    return ""


def dense_equivalent_params(model: Sequential) -> int:
    """Parameters the same widths would need as dense layers (weights plus biases)."""
    return sum(row["dense_equivalent"] for row in layer_table(model))


def layer_table(model: Sequential) -> List[Dict[str, Any]]:
    """One row per layer: name, trainable parameters, dense-equivalent parameters."""
    rows = []
    for i, layer in enumerate(model.layers):
        dense = (layer.d_in * layer.d_out + (layer.d_out if getattr(layer, "bias", True) else 0)
                 if hasattr(layer, "d_in") and hasattr(layer, "d_out") else 0)
        rows.append({"index": i, "layer": repr(layer), "params": layer.num_params(), "dense_equivalent": dense})
    return rows
