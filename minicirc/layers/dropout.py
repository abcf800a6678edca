"""Inverted dropout: in training, ``y = x * mask / (1 - p)`` with ``mask ~ Bernoulli(1 - p)``.

``dx = dy * mask / (1 - p)``; the code keeps ``mask / (1 - p)`` as one array, ``scale``. In evaluation mode ``y = x`` (scaling at training time keeps the
expected activation equal in both modes).
"""
from __future__ import annotations

from typing import Any

from .._args import check_unit
from .base import Layer


class Dropout(Layer):
    """Dropout with rate ``p`` and its own generator (seeded by ``rng``): no global state.

    Built without ``dtype`` it computes in its input's dtype (float32 or float64).
    """

    follows_input_dtype = True

    def __init__(self, p: float = 0.5, *, rng: Any = None, dtype: Any = None,
                 backend: Any = None) -> None:
        super().__init__(dtype=dtype, backend=backend)
        self.p = check_unit(type(self).__name__, "p", p)
        self.rng = self.generator(rng)

    def extra_repr(self) -> str:
        return f"p={self.p}"

    def forward(self, x: Any) -> Any:
        x = self.check_input(x, None)
        dtype = x.dtype                      # the layer's, or the input's (dtype=None)
        if not self.training or self.p == 0.0:
            self.cache = (None, x.shape, dtype)
            return x
        # Built in the compute dtype from the start: a bool mask divided by a Python float
        # would make a float64 temporary (the profile's largest item, 18% of a step).
        scale = (self.rng.random(x.shape, dtype=dtype) >= self.p).astype(dtype)
        scale *= dtype.type(1.0 / (1.0 - self.p))
        scale = self.backend.asarray(scale)
        self.cache = (scale, x.shape, dtype)
        return x * scale

    def backward(self, dy: Any) -> Any:
        scale, shape, dtype = self.cached()
        dy = self.check_dy(dy, shape, dtype)
        return dy if scale is None else dy * scale
