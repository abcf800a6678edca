"""The buffer plan of a captured step: every parameter of a model as a view into one flat buffer.

A CUDA graph replays fixed device addresses, and the fused optimizer (``fused.adam_update``,
``fused.sgd_update``) is one launch over one buffer. So the parameters are copied once into a
flat ``p`` and each layer's ``params[name]`` is rebound to its slice (a view: the layers read
it and the optimizer writes it, in place, at the same address every step); the gradients are
gathered into a flat ``g`` after the backward, and the optimizer's moments live in flat
buffers beside them. Order and offsets are those of ``model.named_parameters()``.

Nothing here launches a kernel: it is array bookkeeping on the model's own array module, the
same on NumPy as on CuPy, so it is tested on the CPU.
"""
from __future__ import annotations

from typing import Any, Dict, List, Tuple

import numpy as np

from ..base import array_module

#: The optimizer state slots each rule keeps, by optimizer class name.
SLOTS = {"Adam": ("m", "v"), "AdamW": ("m", "v"), "SGD": ("v",)}


class FlatParams:
    """``model``'s parameters rebound to views of one flat buffer ``p``; ``g`` for its gradients.

    All parameters must share one floating dtype. Rebinding changes no value: the model
    computes what it did. Rebuild this after anything assigns new parameter arrays (a
    checkpoint load), since a layer would then read arrays outside the plan.
    """

    def __init__(self, model: Any) -> None:
        owners: List[Tuple[Any, str]] = [(m, k) for m in model.modules() for k in m.params]
        named = list(model.named_parameters())
        if not named:
            raise ValueError("FlatParams: the model has no parameters to train")
        if len(owners) != len(named) or not all(m.params[k] is p for (m, k), (_, p) in zip(owners, named)):
            raise ValueError("FlatParams: the model's modules() and named_parameters() disagree; "
                             "cannot tell which layer holds which parameter")
        dtypes = {np.dtype(p.dtype) for _, p in named}
        if len(dtypes) != 1 or next(iter(dtypes)) not in (np.float32, np.float64):
            raise ValueError(f"FlatParams: every parameter must share one dtype, float32 or float64; "
                             f"got {sorted(str(d) for d in dtypes)}")
        self.dtype = next(iter(dtypes))
        self.xp = array_module(named[0][1])
        self.names = [name for name, _ in named]
        self.shapes = [tuple(p.shape) for _, p in named]
        sizes = [int(np.prod(s, dtype=np.int64)) for s in self.shapes]
        self.offsets = [int(o) for o in np.concatenate([[0], np.cumsum(sizes)])]
        self.size = self.offsets[-1]
        self.p = self.xp.empty(self.size, self.dtype)
        self.g = self.xp.zeros(self.size, self.dtype)
        for i, ((layer, key), (_, value)) in enumerate(zip(owners, named)):
            view = self.view(self.p, i)
            view[...] = value
            layer.params[key] = view

    def view(self, flat: Any, i: int) -> Any:
        """Parameter ``i``'s slice of ``flat``, in its shape (a view)."""
        return flat[self.offsets[i]:self.offsets[i + 1]].reshape(self.shapes[i])

    def views(self, flat: Any) -> Dict[str, Any]:
        return {name: self.view(flat, i) for i, name in enumerate(self.names)}

    def is_bound(self, model: Any) -> bool:
        """Whether every parameter of ``model`` is still its view of ``p`` (nothing rebound it)."""
        named = list(model.named_parameters())
        return [n for n, _ in named] == self.names and all(
            getattr(a, "base", None) is not None and _shares(a, self.p) for _, a in named)

    def gather_grads(self, model: Any) -> Any:
        """Copy every gradient of ``model`` into ``g`` (one copy each, on the current stream)."""
        grads = list(model.named_grads())
        if [n for n, _ in grads] != self.names:
            raise ValueError("FlatParams.gather_grads: the model's parameters changed since the plan was made")
        for i, (name, a) in enumerate(grads):
            if a is None:
                raise RuntimeError(f"FlatParams.gather_grads: parameter {name!r} has no gradient; run backward() first")
            if tuple(a.shape) != self.shapes[i]:
                raise ValueError(f"FlatParams.gather_grads: gradient of {name!r} has shape {tuple(a.shape)}, "
                                 f"expected {self.shapes[i]}")
            self.view(self.g, i)[...] = a
        return self.g

    def state_from(self, optimizer: Any) -> Dict[str, Any]:
        """The optimizer's state as flat buffers ``{slot: flat}`` (zeros where it has none yet)."""
        slots = slots_of(optimizer)
        flats = {slot: self.xp.zeros(self.size, self.dtype) for slot in slots}
        for i, name in enumerate(self.names):
            for slot, value in optimizer.state.get(name, {}).items():
                if slot not in flats:
                    raise ValueError(f"FlatParams: {type(optimizer).__name__} state {slot!r} of {name!r} "
                                     "is not one the fused update keeps")
                self.view(flats[slot], i)[...] = self.xp.asarray(value)
        return flats

    def state_to(self, optimizer: Any, flats: Dict[str, Any], steps: int) -> None:
        """Hand the flat state back to ``optimizer`` (views, for a checkpoint) and set its step count."""
        if steps > 0 and flats:
            optimizer.state = {name: {slot: self.view(flat, i) for slot, flat in flats.items()}
                               for i, name in enumerate(self.names)}
        else:
            optimizer.state = {}
        optimizer.t = int(steps)


def slots_of(optimizer: Any) -> Tuple[str, ...]:
    """The state slots the fused update keeps for ``optimizer`` (SGD without momentum: none)."""
    slots = SLOTS.get(type(optimizer).__name__)
    if slots is None:
        raise ValueError(f"FlatParams: no fused update for {type(optimizer).__name__}; "
                         f"choose one of {', '.join(SLOTS)}")
    return () if slots == ("v",) and not optimizer.momentum else slots


def _shares(a: Any, base: Any) -> bool:
    xp = array_module(a)
    return bool(xp.shares_memory(a, base)) if xp is np else _ptr_within(a, base)


def _ptr_within(a: Any, base: Any) -> bool:
    lo = base.data.ptr
    return lo <= a.data.ptr < lo + base.nbytes


__all__ = ["FlatParams", "SLOTS", "slots_of"]
