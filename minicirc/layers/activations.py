"""Elementwise activations. Each caches exactly what its derivative needs.

    ReLU:    y = max(x, 0)           dx = dy * [x > 0]
    Tanh:    y = tanh(x)             dx = dy * (1 - y^2)
    Sigmoid: y = 1 / (1 + e^-x)      dx = dy * y (1 - y)

Built without ``dtype`` they compute in their input's dtype (float32 or float64); with one,
they cast their input to it, as the layers with parameters do.
"""
from __future__ import annotations

from typing import Any

from .base import Layer


class _Activation(Layer):
    """A parameter-free elementwise layer: ``dtype=None`` follows the input."""

    follows_input_dtype = True

    def __init__(self, *, dtype: Any = None, backend: Any = None) -> None:
        super().__init__(dtype=dtype, backend=backend)


class ReLU(_Activation):
    """``y = max(x, 0)``; the cache is the mask ``x > 0`` (and the dtype it was computed in)."""

    def forward(self, x: Any) -> Any:
        x = self.check_input(x, None)
        y, mask = self.backend.relu(x)                   # mask = x > 0, y = x * mask
        self.cache = (mask, x.dtype)
        return y

    def backward(self, dy: Any) -> Any:
        mask, dtype = self.cached()
        return self.backend.relu_backward(self.check_dy(dy, mask.shape, dtype), mask)   # dy * mask


class Tanh(_Activation):
    """``y = tanh(x)``; the derivative is written with ``y``, so ``y`` is the cache."""

    def forward(self, x: Any) -> Any:
        x = self.check_input(x, None)
        y = self.backend.xp.tanh(x)
        self.cache = (y,)
        return y

    def backward(self, dy: Any) -> Any:
        (y,) = self.cached()
        return self.check_dy(dy, y.shape, y.dtype) * (1 - y * y)


class Sigmoid(_Activation):
    """``y = 1 / (1 + exp(-x))``, computed without overflow for large ``|x|``."""

    def forward(self, x: Any) -> Any:
        x = self.check_input(x, None)
        xp = self.backend.xp
        # exp of a non-positive number only: 1/(1+e^-x) for x >= 0, e^x/(1+e^x) for x < 0.
        e = xp.exp(-xp.abs(x))
        y = xp.where(x >= 0, 1 / (1 + e), e / (1 + e)).astype(x.dtype, copy=False)
        self.cache = (y,)
        return y

    def backward(self, dy: Any) -> Any:
        (y,) = self.cached()
        return self.check_dy(dy, y.shape, y.dtype) * y * (1 - y)
