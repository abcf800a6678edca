"""A stack of layers: ``forward`` in order, ``backward`` in reverse."""
from __future__ import annotations

from typing import Any, Iterator, List, Tuple


from .base import Layer


class Sequential:
    """Runs ``layers`` in order. Parameters are named ``"<index>.<name>"``, e.g. ``"0.r"``."""

    def __init__(self, *layers: Layer) -> None:
        for i, layer in enumerate(layers):
            if not isinstance(layer, Layer):
                raise TypeError(f"Sequential: item {i} is a {type(layer).__name__}, not a minicirc Layer")
        self.layers: List[Layer] = list(layers)
        self.training = True

    def forward(self, x: Any) -> Any:
        for layer in self.layers:
            x = layer.forward(x)
        return x

    def __call__(self, x: Any) -> Any:
        # A method, not ``__call__ = forward``: that would bypass a subclass's own forward.
        return self.forward(x)

    def backward(self, dy: Any) -> Any:
        for layer in reversed(self.layers):
            dy = layer.backward(dy)
        return dy

    def train(self, mode: bool = True) -> "Sequential":
        """Switch every layer between training and evaluation (dropout on or off)."""
        self.training = mode
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
        clone = Sequential(*(layer.astype(dtype) for layer in self.layers))
        return clone.train(self.training)

    def __len__(self) -> int:
        return len(self.layers)

    def __getitem__(self, i: int) -> Layer:
        return self.layers[i]

    def __repr__(self) -> str:
        inner = "".join(f"\n  ({i}) {layer!r}" for i, layer in enumerate(self.layers))
        return f"Sequential({inner}\n)  # {self.num_params():,} trainable parameters"
