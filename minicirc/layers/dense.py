"""The fully-connected layer ``y = x W + b``.

Forward and backward, for ``x`` (B, d_in), ``W`` (d_in, d_out), ``b`` (d_out,)::

    y  = x @ W + b          (B, d_out)
    dx = dy @ W.T           (B, d_in)
    dW = x.T @ dy           (d_in, d_out)
    db = sum_batch dy       (d_out,)

Derivation: docs/derivation.md, section "The dense layer".
"""
from __future__ import annotations

from typing import Any

import numpy as np

from .base import Layer


class Dense(Layer):
    """Fully-connected layer with weights ``W`` of shape (d_in, d_out).

    Initialisation: ``W ~ N(0, gain / d_in)``, ``b = 0``. Each output sums ``d_in`` terms,
    so this keeps the second moment of the activations; ``gain=2`` compensates the ReLU,
    which zeroes half of them (He et al. 2015). The default ``gain=1`` is LeCun's.
    """

    def __init__(self, d_in: int, d_out: int, *, bias: bool = True, rng: Any = None,
                 dtype: Any = np.float32, backend: Any = None, gain: float = 1.0) -> None:
        super().__init__(dtype=dtype, backend=backend)
        self.check_sizes(d_in=d_in, d_out=d_out)
        gain = self.check_gain(gain)
        self.d_in, self.d_out, self.bias = int(d_in), int(d_out), self.check_flag(bias=bias)
        rng = self.generator(rng)
        W = rng.standard_normal((self.d_in, self.d_out)) * np.sqrt(gain / self.d_in)
        self.params["W"] = self.backend.asarray(W.astype(self.dtype))
        if self.bias:
            self.params["b"] = self.backend.asarray(np.zeros(self.d_out, self.dtype))

    def extra_repr(self) -> str:
        return f"{self.d_in}, {self.d_out}" + ("" if self.bias else ", bias=False")

    def forward(self, x: Any) -> Any:
        x = self.check_input(x, self.d_in)
        y = x @ self.params["W"]
        if self.bias:
            y += self.params["b"]
        self.cache = (x,)
        return y

    def backward(self, dy: Any) -> Any:
        (x,) = self.cached()
        dy = self.check_dy(dy, (x.shape[0], self.d_out))
        self.grads["W"] = x.T @ dy
        if self.bias:
            self.grads["b"] = dy.sum(axis=0)
        return dy @ self.params["W"].T
