"""Elementwise activations. Each caches exactly what its derivative needs.

    ReLU:    y = max(x, 0)           dx = dy * [x > 0]
    Tanh:    y = tanh(x)             dx = dy * (1 - y^2)
    Sigmoid: y = 1 / (1 + e^-x)      dx = dy * y (1 - y)
"""
from __future__ import annotations

from typing import Any

from .base import Layer


class ReLU(Layer):
    """``y = max(x, 0)``; the cache is the mask ``x > 0``."""

    def forward(self, x: Any) -> Any:
        x = self._check_input(x, None)
        mask = x > 0
        self._cache = (mask,)
        return x * mask

    def backward(self, dy: Any) -> Any:
        (mask,) = self._cached()
        return self._check_dy(dy, mask.shape) * mask


class Tanh(Layer):
    """``y = tanh(x)``; the derivative is written with ``y``, so ``y`` is the cache."""

    def forward(self, x: Any) -> Any:
        x = self._check_input(x, None)
        y = self.backend.xp.tanh(x)
        self._cache = (y,)
        return y

    def backward(self, dy: Any) -> Any:
        (y,) = self._cached()
        return self._check_dy(dy, y.shape) * (1 - y * y)


class Sigmoid(Layer):
    """``y = 1 / (1 + exp(-x))``, computed without overflow for large ``|x|``."""

    def forward(self, x: Any) -> Any:
        x = self._check_input(x, None)
        xp = self.backend.xp
        # exp of a non-positive number only: 1/(1+e^-x) for x >= 0, e^x/(1+e^x) for x < 0.
        e = xp.exp(-xp.abs(x))
        y = xp.where(x >= 0, 1 / (1 + e), e / (1 + e)).astype(self.dtype, copy=False)
        self._cache = (y,)
        return y

    def backward(self, dy: Any) -> Any:
        (y,) = self._cached()
        return self._check_dy(dy, y.shape) * y * (1 - y)
