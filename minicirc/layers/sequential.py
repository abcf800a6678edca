"""A stack of layers: ``forward`` in order, ``backward`` in reverse. A layer itself, so
stacks nest."""
from __future__ import annotations

from typing import Any, Dict, Iterator, List, Optional, Tuple

import numpy as np

from .base import Layer


class DxShapeError(ValueError):
    """A layer's ``backward`` returned a ``dx`` whose shape is not that of its input."""


class Sequential(Layer):
    """Runs ``layers`` in order. Parameters are named ``"<index>.<name>"``, e.g. ``"0.r"``,
    and a Sequential inside a Sequential adds its own index: ``"1.0.r"``.

    It has no parameters of its own and its ``dtype`` is None: each layer in it keeps its
    own dtype and backend.
    """

    follows_input_dtype = True

    def __init__(self, *layers: Layer) -> None:
        super().__init__(dtype=None)
        for i, layer in enumerate(layers):
            if not isinstance(layer, Layer):
                raise TypeError(f"Sequential: item {i} is a {type(layer).__name__}, not a minicirc Layer")
        # A layer keeps one cache and one set of gradients: used twice, its second forward
        # would overwrite the first's cache, and both backward passes would use it. Also
        # when one use is inside a nested Sequential.
        seen: Dict[int, str] = {}
        for i, layer in enumerate(layers):
            for path, m in _paths(str(i), layer):
                if id(m) in seen:
                    raise ValueError(f"Sequential: item {path} is the same layer object as item "
                                     f"{seen[id(m)]} ({m!r}); a layer can appear once (build a second "
                                     "one, or share weights in a layer of your own that sums both "
                                     "uses' gradients)")
                seen[id(m)] = path
        self.layers: List[Layer] = list(layers)
        # The shape each layer received in the last forward: backward checks every layer's
        # dx against it, so a wrong dx is blamed on the layer that made it, not the one before.
        self.cache: Optional[List[Tuple[int, ...]]] = None

    @property
    def input_grad(self) -> bool:
        """Whether ``backward`` returns ``dx``: the first layer's say (``Conv2D(input_grad=False)``
        returns None, for a network whose input is data)."""
        return bool(getattr(self.layers[0], "input_grad", True)) if self.layers else True

    def named_children(self) -> Iterator[Tuple[str, Layer]]:
        return ((str(i), layer) for i, layer in enumerate(self.layers))

    def forward(self, x: Any) -> Any:
        self.cache = None                # a forward that fails half-way leaves nothing to check
        shapes = []
        for layer in self.layers:
            # a nested list has no .shape, but a layer reads it as np.asarray would
            shapes.append(tuple(x.shape) if hasattr(x, "shape") else np.shape(x))
            x = layer.forward(x)
        self.cache = shapes
        return x

    def backward(self, dy: Any) -> Any:
        shapes = self.cache
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

    def astype(self, dtype: Any) -> "Sequential":
        """A copy with every layer cast (``Layer.astype``); build the optimizer for the copy."""
        return super().astype(dtype)  # type: ignore[return-value]

    def __len__(self) -> int:
        return len(self.layers)

    def __getitem__(self, i: int) -> Layer:
        return self.layers[i]

    def _listing(self) -> str:
        inner = "".join(f"\n  ({i}) " + (layer._listing() if isinstance(layer, Sequential)
                                         else repr(layer)).replace("\n", "\n  ")
                        for i, layer in enumerate(self.layers))
        return f"Sequential({inner}\n)"

    def __repr__(self) -> str:
        return f"{self._listing()}  # {self.num_params():,} trainable parameters"


def _paths(path: str, layer: Layer) -> Iterator[Tuple[str, Layer]]:
    """``(path, layer)`` for ``layer`` and every layer inside it, paths such as ``"1.0"``."""
    yield path, layer
    for name, child in layer.named_children():
        yield from _paths(f"{path}.{name}", child)
