"""A stack of layers: ``forward`` in order, ``backward`` in reverse."""
from __future__ import annotations

from typing import Any, Iterator, List, Optional, Tuple

import numpy as np

from .base import Layer


class DxShapeError(ValueError):
    """A layer's ``backward`` returned a ``dx`` whose shape is not that of its input."""


class Sequential:
    """Runs ``layers`` in order. Parameters are named ``"<index>.<name>"``, e.g. ``"0.r"``."""

    def __init__(self, *layers: Layer) -> None:
        for i, layer in enumerate(layers):
            if not isinstance(layer, Layer):
                raise TypeError(f"Sequential: item {i} is a {type(layer).__name__}, not a minicirc Layer")
        # A layer keeps one cache and one set of gradients: used twice, its second forward
        # would overwrite the first's cache, and both backward passes would use it.
        seen = {}
        for i, layer in enumerate(layers):
            if id(layer) in seen:
                raise ValueError(f"Sequential: item {i} is the same layer object as item {seen[id(layer)]} "
                                 f"({layer!r}); a layer can appear once (build a second one, or share "
                                 "weights in a layer of your own that sums both uses' gradients)")
            seen[id(layer)] = i
        self.layers: List[Layer] = list(layers)
        self.training = True
        # The shape each layer received in the last forward: backward checks every layer's
        # dx against it, so a wrong dx is blamed on the layer that made it, not the one before.
        self._cache: Optional[List[Tuple[int, ...]]] = None

    def forward(self, x: Any) -> Any:
        self._cache = None               # a forward that fails half-way leaves nothing to check
        shapes = []
        for layer in self.layers:
            # a nested list has no .shape, but a layer reads it as np.asarray would
            shapes.append(tuple(x.shape) if hasattr(x, "shape") else np.shape(x))
            x = layer.forward(x)
        self._cache = shapes
        return x

    def __call__(self, x: Any) -> Any:
        # A method, not ``__call__ = forward``: that would bypass a subclass's own forward.
        return self.forward(x)

    def backward(self, dy: Any) -> Any:
        shapes = self._cache
        for i in reversed(range(len(self.layers))):
            layer = self.layers[i]
            dy = layer.backward(dy)
            # None from the first layer is allowed: nothing consumes it (an input that has no
            # gradient, such as indices).
            if shapes is not None and getattr(dy, "shape", None) != shapes[i] and not (i == 0 and dy is None):
                got = "None" if dy is None else f"shape {getattr(dy, 'shape', type(dy).__name__)}"
                raise DxShapeError(f"Sequential: layer {i} ({layer!r}) backward returned {got}; expected "
                                   f"dx of shape {shapes[i]}, the shape of its input in the last forward")
        return dy

    def train(self, mode: bool = True) -> "Sequential":
        """Switch every layer between training and evaluation (dropout on or off)."""
        if not isinstance(mode, (bool, np.bool_)):
            raise TypeError(f"Sequential.train: mode must be True or False, got {mode!r}")
        self.training = bool(mode)
        for layer in self.layers:
            layer.train(mode)
        return self

    def eval(self) -> "Sequential":
        return self.train(False)

    def named_parameters(self) -> Iterator[Tuple[str, Any, Any]]:
        """Yield ``(name, param, grad)``; ``grad`` is None before the first backward."""
        for i, layer in enumerate(self.layers):
            for k, p in layer.params.items():
                yield f"{i}.{k}", p, layer.grads.get(k)

    def named_buffers(self) -> Iterator[Tuple[str, Any]]:
        for i, layer in enumerate(self.layers):
            for k, b in layer.buffers.items():
                yield f"{i}.{k}", b

    def num_params(self) -> int:
        """Number of trainable scalars (the circulant ``signs`` are not trainable)."""
        return sum(layer.num_params() for layer in self.layers)

    def astype(self, dtype: Any) -> "Sequential":
        """A copy with every layer cast (``Layer.astype``); build the optimizer for the copy."""
        clone = Sequential(*(layer.astype(dtype) for layer in self.layers))
        return clone.train(self.training)

    def __len__(self) -> int:
        return len(self.layers)

    def __getitem__(self, i: int) -> Layer:
        return self.layers[i]

    def __repr__(self) -> str:
        inner = "".join(f"\n  ({i}) {layer!r}" for i, layer in enumerate(self.layers))
        return f"Sequential({inner}\n)  # {self.num_params():,} trainable parameters"
