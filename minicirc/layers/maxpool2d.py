"""2-D max pooling: the largest value of each ``k x k`` window, moved by ``stride``.

For ``x`` (B, C, H, W), ``Ho = (H - k) // s + 1`` (``Wo`` likewise; rows and columns that no
whole window reaches are dropped, as in PyTorch)::

    y[b, c, h, w]   = max_{0 <= i, j < k} x[b, c, s h + i, s w + j]      (B, C, Ho, Wo)  eq. (P1)
    arg[b, c, h, w] = i k + j of that maximum, the FIRST in row-major window order at a tie
    dx[b, c, s h + i, s w + j] += dy[b, c, h, w]  where  i k + j = arg[b, c, h, w]
                                                                          (B, C, H, W)   eq. (P2)

``y`` is, window by window, the input at ``arg``, so its derivative sends each ``dy`` to that
one input and nothing to the others. At a tie the maximum is not differentiable; like PyTorch
this picks one of the tied inputs (the first) and gives it the whole ``dy``, so the gradient
still sums to ``sum(dy)``. With ``stride < k`` windows overlap and an input that is the
maximum of several windows collects each one's ``dy`` (the ``+=``). Derivation:
docs/derivation.md, section "Convolution and pooling".
"""
from __future__ import annotations

from typing import Any, Optional

from .base import Layer


class MaxPool2D(Layer):
    """Max pooling over ``size x size`` windows; ``stride`` defaults to ``size`` (no overlap).

    No parameters; the cache is ``arg`` (the winner of each window) and the input's shape.
    Built without ``dtype`` it computes in its input's dtype (float32 or float64).
    """

    follows_input_dtype = True

    def __init__(self, size: int, stride: Optional[int] = None, *, dtype: Any = None,
                 backend: Any = None) -> None:
        super().__init__(dtype=dtype, backend=backend)
        stride = size if stride is None else stride
        self.check_sizes(size=size, stride=stride)
        self.size, self.stride = int(size), int(stride)

    def extra_repr(self) -> str:
        return f"{self.size}" + (f", stride={self.stride}" if self.stride != self.size else "")

    def forward(self, x: Any) -> Any:
        k = self.size
        x = self.check_images(x, None, (k, k), f"{k}x{k} pooling window")
        y, arg = self.backend.maxpool(x, k, self.stride)                  # eq. (P1)
        self.cache = (arg, x.shape, x.dtype)
        return y

    def backward(self, dy: Any) -> Any:
        arg, x_shape, dtype = self.cached()
        dy = self.check_dy(dy, arg.shape, dtype)
        return self.backend.maxpool_backward(dy, arg, x_shape, self.size, self.stride)  # eq. (P2)

