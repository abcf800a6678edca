"""The circulant projection of Cheng et al. (ICCV 2015): ``y = crop(circ(r) D pad(x)) + b``.

``circ(r)`` has ``r`` as its first column, ``C[i, j] = r[(i - j) mod n]``, so ``C u`` is the
circular convolution ``r * u`` and ``rfft(C u) = rfft(r) rfft(u)``. ``D = diag(s)`` holds fixed
random signs. With ``n = max(d_in, d_out)``, ``u = s * pad_n(x)``, ``U = rfft(u)``,
``R = rfft(r)`` and ``G = rfft(pad_n(dy))`` (padding is the adjoint of cropping)::

    y  = crop_{d_out}( irfft(R U, n) ) + b              (B, d_out)   eq. (C1)
    dr = irfft( sum_batch conj(U) G, n )                 (n,)         eq. (C2)
    du = irfft( conj(R) G, n )                           (B, n)       eq. (C3)
    dx = crop_{d_in}( s * du )                           (B, d_in)    eq. (C4)
    db = sum_batch dy                                    (d_out,)

Derivation: docs/derivation.md, sections "The circulant layer: forward by FFT" (C1),
"dL/dr: a circular cross-correlation" (C2) and "dL/dx: through circ(r)^T, a correlation with r"
(C3, C4).
"""
from __future__ import annotations

from typing import Any, Optional

import numpy as np

from .base import Layer


class Circulant(Layer):
    """Circulant fully-connected layer: ``n`` weights instead of ``d_in * d_out``.

    Parameters: ``r`` (n,), ``b`` (d_out,). Buffer: ``signs`` (n,), the diagonal of ``D``,
    +1/-1 drawn once from ``rng`` (all ones with ``sign_flip=False``), never trained.

    Initialisation: ``r ~ N(0, gain / d_in)``, ``b = 0``. Row ``i`` of ``circ(r) D`` meets
    the ``d_in`` non-zero inputs with ``d_in`` distinct entries of ``r``, each with a random
    sign, so the output has the input's second moment times ``gain`` -- the same argument
    as for a dense layer. For a square layer this is ``N(0, 1/n)``; ``gain=2`` is
    the ReLU (He) variant.
    """

    def __init__(self, d_in: int, d_out: Optional[int] = None, *, bias: bool = True,
                 sign_flip: bool = True, rng: Any = None, dtype: Any = np.float32,
                 backend: Any = None, gain: float = 1.0) -> None:
        super().__init__(dtype=dtype, backend=backend)
        d_out = d_in if d_out is None else d_out
        self.check_sizes(d_in=d_in, d_out=d_out)
        gain = self.check_gain(gain)
        self.d_in, self.d_out = int(d_in), int(d_out)
        self.n = max(self.d_in, self.d_out)
        self.bias, self.sign_flip = self.check_flag(bias=bias), self.check_flag(sign_flip=sign_flip)
        self._init_spectral((self.n,), self.n, gain, rng, self.sign_flip)

    @property
    def signs(self) -> Any:
        """The diagonal of ``D`` (length ``n``); not a parameter."""
        return self.buffers["signs"]

    def extra_repr(self) -> str:
        extra = "" if self.bias else ", bias=False"
        extra += "" if self.sign_flip else ", sign_flip=False"
        return f"{self.d_in}, {self.d_out}{extra}"

    def forward(self, x: Any) -> Any:
        x = self.check_input(x, self.d_in)
        bk, n = self.backend, self.n
        R = bk.rfft(self.params["r"], n)
        # s * pad_n(x) = pad_n(s[:d_in] * x): flip first, let rfft zero-pad to n.
        U = bk.rfft(bk.sign_flip(x, self.signs[: self.d_in]), n)
        # overwrite=True: each product below is a temporary that irfft may use as scratch.
        y = bk.irfft(bk.cmul(U, R), n, overwrite=True)[:, : self.d_out]  # eq. (C1)
        if self.bias:
            y += self.params["b"]            # y is a view of irfft's fresh output: safe in place
        self.cache = (U, R)
        return y

    def backward(self, dy: Any) -> Any:
        U, R = self.cached()
        dy = self.check_dy(dy, (U.shape[0], self.d_out))
        bk, n = self.backend, self.n
        G = bk.rfft(dy, n)                                                # pad_n is crop's adjoint
        # Both products read G: one pass gives dU = conj(R) G and dR = sum_batch conj(U) G.
        dU, dR = bk.cmul_conj_and_sum(R, U, G)
        self.grads["r"] = bk.irfft(dR, n, overwrite=True)                 # eq. (C2)
        du = bk.irfft(dU, n, overwrite=True)                              # eq. (C3)
        if self.bias:
            self.grads["b"] = dy.sum(axis=0)
        return bk.sign_flip(du[:, : self.d_in], self.signs[: self.d_in])  # eq. (C4)
