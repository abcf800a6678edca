"""The 2-D convolution layer (a cross-correlation, as in PyTorch): images in, images out.

For ``x`` (B, C, H, W), weights ``W`` (O, C, k, k) in PyTorch's layout, bias ``b`` (O,),
stride ``s`` and zero padding ``p``: ``x~`` is ``x`` with ``p`` zeros around each image,
``Ho = (H + 2p - k) // s + 1`` (``Wo`` likewise), and ``im2col`` lays the windows out as
columns, ``X[(c, i, j), (b, h, w)] = x~[b, c, s h + i, s w + j]`` (C k k, B Ho Wo). With
``Wm = W.reshape(O, C k k)`` and ``G[o, (b, h, w)] = dy[b, o, h, w]`` (O, B Ho Wo)::

    y[b, o, h, w] = b[o] + sum_{c, i, j} W[o, c, i, j] x~[b, c, s h + i, s w + j]
                  = (Wm X)[o, (b, h, w)] + b[o]        (B, O, Ho, Wo)   eq. (K1)
    dW[o, c, i, j] = sum_{b, h, w} dy[b, o, h, w] x~[b, c, s h + i, s w + j]
                   = (G X^T)[o, (c, i, j)]             (O, C, k, k)     eq. (K2)
    db[o] = sum_{b, h, w} dy[b, o, h, w]               (O,)             eq. (K3)
    dx = crop_p( col2im(Wm^T G) ),                     (B, C, H, W)     eq. (K4)
         dx~[b, c, u, v] = sum_{o, h, w : u = s h + i, v = s w + j} W[o, c, i, j] dy[b, o, h, w]

(K2) correlates the input with ``dy``; (K4) is the full convolution of ``dy`` (spread out
by the stride) with the kernel, which ``col2im`` computes by scatter-adding each column
back to the pixels it was read from. Derivation: docs/derivation.md, section
"Convolution and pooling".
"""
from __future__ import annotations

from typing import Any

import numpy as np

from .._args import check_int
from ..backends.windows import out_size
from .base import Layer


class Conv2D(Layer):
    """2-D convolution over (B, C_in, H, W) images with ``c_out`` square ``kernel`` filters.

    Parameters: ``W`` (c_out, c_in, kernel, kernel), ``b`` (c_out,): PyTorch's ``Conv2d``
    layout, so weights copy across as they are.

    Initialisation: ``W ~ U(-a, a)`` with ``a = sqrt(3 gain / fan_in)``, ``fan_in = c_in k k``,
    so ``Var W = gain / fan_in``: the variance rule of ``Dense`` (each output sums ``fan_in``
    terms), in PyTorch's uniform family. ``b = 0``, as in ``Dense``. PyTorch's default
    (``kaiming_uniform_(a=sqrt(5))``) is this with ``gain = 1/3``, and a bias drawn from
    ``U(-1/sqrt(fan_in), 1/sqrt(fan_in))``; ``gain=2`` is the ReLU (He) variant.
    """

    def __init__(self, c_in: int, c_out: int, kernel: int, *, stride: int = 1, padding: int = 0,
                 bias: bool = True, rng: Any = None, dtype: Any = np.float32, backend: Any = None,
                 gain: float = 1.0, input_grad: bool = True) -> None:
        super().__init__(dtype=dtype, backend=backend)
        self.check_sizes(c_in=c_in, c_out=c_out, kernel=kernel, stride=stride)
        padding = check_int(type(self).__name__, "padding", padding, lo=0)
        gain = self.check_gain(gain)
        self.c_in, self.c_out, self.k = int(c_in), int(c_out), int(kernel)
        self.stride, self.padding, self.bias = int(stride), padding, self.check_flag(bias=bias)
        self.input_grad = self.check_flag(input_grad=input_grad)
        fan_in = self.c_in * self.k * self.k
        a = np.sqrt(3.0 * gain / fan_in)
        W = self.generator(rng).uniform(-a, a, (self.c_out, self.c_in, self.k, self.k))
        self.params["W"] = self.backend.asarray(W.astype(self.dtype))
        if self.bias:
            self.params["b"] = self.backend.asarray(np.zeros(self.c_out, self.dtype))

    def extra_repr(self) -> str:
        extra = f"{self.c_in}, {self.c_out}, kernel={self.k}"
        extra += f", stride={self.stride}" if self.stride != 1 else ""
        extra += f", padding={self.padding}" if self.padding else ""
        extra += "" if self.bias else ", bias=False"
        return extra + ("" if self.input_grad else ", input_grad=False")

    def forward(self, x: Any) -> Any:
        k, s, p = self.k, self.stride, self.padding
        m = max(1, k - 2 * p)                 # the smallest image one whole window covers
        x = self.check_images(x, self.c_in, (m, m), f"{k}x{k} kernel with padding {p}")
        B, _, H, W = x.shape
        ho, wo = out_size(H, k, s, p), out_size(W, k, s, p)
        X = self.backend.im2col(x, k, s, p)                                # (C k k, B Ho Wo)
        Wm = self.params["W"].reshape(self.c_out, -1)                      # (O, C k k)
        b = self.params["b"] if self.bias else None
        y = self.backend.swap01((Wm @ X).reshape(self.c_out, B, ho, wo), b)   # eq. (K1), + b[o]
        self.cache = (X, x.shape)
        return y

    def backward(self, dy: Any) -> Any:
        X, x_shape = self.cached()
        B, (H, W) = x_shape[0], x_shape[2:]
        k, s, p = self.k, self.stride, self.padding
        dy = self.check_dy(dy, (B, self.c_out, out_size(H, k, s, p), out_size(W, k, s, p)))
        G = self.backend.swap01(dy).reshape(self.c_out, -1)                # (O, B Ho Wo)
        # G X^T, computed as (X G^T)^T: BLAS runs this long, thin product faster with the
        # windows matrix X as its left, untransposed factor (docs/benchmarks.md, CNN epoch).
        self.grads["W"] = (X @ G.T).T.reshape(self.params["W"].shape)      # eq. (K2)
        if self.bias:
            self.grads["b"] = G.sum(axis=1)                                # eq. (K3)
        if not self.input_grad:
            return None
        Wm = self.params["W"].reshape(self.c_out, -1)
        return self.backend.col2im(Wm.T @ G, x_shape, k, s, p)             # eq. (K4)
