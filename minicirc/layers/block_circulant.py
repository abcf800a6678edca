"""The block-circulant layer of Ding et al., CirCNN (MICRO 2017): a grid of k x k circulants.

The (p k) x (q k) weight matrix is cut into k x k blocks, ``p = ceil(d_out / k)`` block rows
and ``q = ceil(d_in / k)`` block columns; block ``(i, j)`` is ``circ(r[i, j])`` with
``r[i, j]`` its first column, as in ``Circulant``. ``D = diag(s)`` holds fixed random signs
on the padded input. With ``u = s * pad_{qk}(x)`` cut into blocks ``u_j = u[j k:(j + 1) k]``,
output block ``i`` is ``y_i = sum_j circ(r[i, j]) u_j``: one circular convolution per block,
summed over the input blocks. In the frequency domain (``m = k // 2 + 1`` bins per block)
that sum is, at every frequency ``f``, a (p x q) complex matrix times a q-vector.

Shapes: ``U = rfft(u.reshape(B, q, k))`` (B, q, m), ``R = rfft(r)`` (p, q, m),
``G = rfft(pad_{pk}(dy).reshape(B, p, k))`` (B, p, m) (padding is the adjoint of cropping)::

    Y[b, i, f]  = sum_j R[i, j, f] U[b, j, f]                          (B, p, m)     eq. (B1)
    y           = crop_{d_out}( irfft(Y, k).reshape(B, p k) ) + b      (B, d_out)    eq. (B1)
    dr[i, j]    = irfft( sum_b conj(U[b, j]) G[b, i], k )              (p, q, k)     eq. (B2)
    dU[b, j, f] = sum_i conj(R[i, j, f]) G[b, i, f]                    (B, q, m)     eq. (B3)
    dx          = crop_{d_in}( s * irfft(dU, k).reshape(B, q k) )      (B, d_in)     eq. (B4)
    db          = sum_batch dy                                         (d_out,)

(B1) is ``backend.bmm_freq``, (B2) ``bmm_freq_conj_x_sum`` (the batch sum is taken on the
spectra, so there is one inverse FFT per block, not per sample), (B3) ``bmm_freq_conj_w``
(per frequency, the conjugate transpose of the (p x q) matrix ``R[:, :, f]``).

Derivation: docs/derivation.md, section "The block-circulant layer".
"""
from __future__ import annotations

from typing import Any

import numpy as np

from .base import Layer


class BlockCirculant(Layer):
    """Block-circulant fully-connected layer: ``p q k`` weights instead of ``d_in * d_out``.

    ``block`` is the block size ``k``. Parameters: ``r`` (p, q, k), ``b`` (d_out,). Buffer:
    ``signs`` (q k,), the diagonal of ``D`` on the zero-padded input, +1/-1 drawn once from
    ``rng`` (all ones with ``sign_flip=False``), never trained. ``block=1`` is a dense layer
    (``W[j, i] = r[i, j, 0] s[j]``); ``block = d_in = d_out`` is ``Circulant``.

    Initialisation: ``r ~ N(0, gain / d_in)``, ``b = 0``. Output ``a`` of block row ``i``
    meets the ``d_in`` real (unpadded) inputs through ``d_in`` distinct weights: within
    block ``(i, j)`` row ``a`` reads ``r[i, j, (a - c) mod k]`` for the k distinct ``c``, and
    different blocks have their own vectors. So, as for ``Dense``, each output sums ``d_in``
    independent terms of variance ``gain / d_in`` times the input's second moment;
    ``gain=2`` is the ReLU (He) variant. A block larger than ``max(d_in, d_out)`` is allowed
    (a cropped circulant of size k) but wastes weights; ``k`` need not divide either width.
    """

    def __init__(self, d_in: int, d_out: int, block: int, *, bias: bool = True,
                 sign_flip: bool = True, rng: Any = None, dtype: Any = np.float32,
                 backend: Any = None, gain: float = 1.0) -> None:
        super().__init__(dtype=dtype, backend=backend)
        self.check_sizes(d_in=d_in, d_out=d_out, block=block)
        gain = self.check_gain(gain)
        self.d_in, self.d_out, self.block = int(d_in), int(d_out), int(block)
        k = self.block
        self.p, self.q = -(-self.d_out // k), -(-self.d_in // k)         # ceil divisions
        self.bias, self.sign_flip = self.check_flag(bias=bias), self.check_flag(sign_flip=sign_flip)
        self._init_spectral((self.p, self.q, k), self.q * k, gain, rng, self.sign_flip)

    @property
    def signs(self) -> Any:
        """The diagonal of ``D`` on the padded input (length ``q k``); not a parameter."""
        return self.buffers["signs"]

    def extra_repr(self) -> str:
        extra = "" if self.bias else ", bias=False"
        extra += "" if self.sign_flip else ", sign_flip=False"
        return f"{self.d_in}, {self.d_out}, block={self.block}{extra}"

    def _pad(self, a: Any, width: int) -> Any:
        """``a`` (B, d) zero-padded on the right to (B, width); ``a`` itself when d == width."""
        if a.shape[1] == width:
            return a
        out = self.backend.xp.zeros((a.shape[0], width), dtype=a.dtype)
        out[:, : a.shape[1]] = a
        return out

    def forward(self, x: Any) -> Any:
        x = self.check_input(x, self.d_in)
        bk, k, B = self.backend, self.block, x.shape[0]
        R = bk.rfft(self.params["r"], k)                                  # (p, q, m)
        # s * pad(x) = pad(s[:d_in] * x): the padded tail is zero whatever its signs.
        u = self._pad(bk.sign_flip(x, self.signs[: self.d_in]), self.q * k)
        U = bk.rfft(u.reshape(B, self.q, k), k)                           # (B, q, m)
        Y = bk.bmm_freq(R, U)                                             # eq. (B1)
        # overwrite=True: each product is a temporary that irfft may use as scratch.
        y = bk.irfft(Y, k, overwrite=True).reshape(B, self.p * k)[:, : self.d_out]  # eq. (B1)
        if self.bias:
            y = y + self.params["b"]
        self.cache = (U, R)
        return y

    def backward(self, dy: Any) -> Any:
        U, R = self.cached()
        B = U.shape[0]
        dy = self.check_dy(dy, (B, self.d_out))
        bk, k = self.backend, self.block
        G = bk.rfft(self._pad(dy, self.p * k).reshape(B, self.p, k), k)  # (B, p, m)
        self.grads["r"] = bk.irfft(bk.bmm_freq_conj_x_sum(U, G), k, overwrite=True)  # eq. (B2)
        dU = bk.bmm_freq_conj_w(R, G)                                     # eq. (B3)
        du = bk.irfft(dU, k, overwrite=True).reshape(B, self.q * k)       # eq. (B4)
        if self.bias:
            self.grads["b"] = dy.sum(axis=0)
        return bk.sign_flip(du[:, : self.d_in], self.signs[: self.d_in])  # eq. (B4)
