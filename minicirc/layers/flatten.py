"""Flatten: a batch of images (B, C, H, W) as a batch of vectors (B, C H W), for a dense head.

    y[b, (c, h, w)] = x[b, c, h, w]       (B, C H W), row-major: index c H W + h W + w
    dx = dy.reshape(B, C, H, W)           (B, C, H, W)

A reshape moves no number, so its gradient is the inverse reshape.
"""
from __future__ import annotations

from typing import Any

from .base import Layer


class Flatten(Layer):
    """(B, C, H, W) -> (B, C*H*W); no parameters. Without ``dtype`` it follows its input's."""

    follows_input_dtype = True

    def __init__(self, *, dtype: Any = None, backend: Any = None) -> None:
        super().__init__(dtype=dtype, backend=backend)

    def forward(self, x: Any) -> Any:
        x = self.check_images(x, None, (1, 1), "one pixel")
        self.cache = (x.shape, x.dtype)
        return x.reshape(x.shape[0], -1)

    def backward(self, dy: Any) -> Any:
        shape, dtype = self.cached()
        dy = self.check_dy(dy, (shape[0], shape[1] * shape[2] * shape[3]), dtype)
        return dy.reshape(shape)
