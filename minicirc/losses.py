"""Softmax with cross-entropy, fused.

For logits ``z`` (B, K) and integer labels ``t`` (B,), with ``p = softmax(z)``::

    L  = -(1/B) sum_b log p[b, t_b]
    dz = (p - onehot(t)) / B

Fusing the two keeps the gradient exact and stable: ``log p`` is computed as
``z - max(z) - log(sum(exp(z - max(z))))``, so logits of 1e4 neither overflow nor give NaN.
Derivation: docs/derivation.md, section "Softmax with cross-entropy".
"""
from __future__ import annotations

from typing import Any, Optional

from ._args import check_flag
from .backends import array_module


class SoftmaxCrossEntropy:
    """Mean cross-entropy of ``softmax(z)`` against labels; ``backward()`` returns ``dz``.

    ``forward`` returns a 0-d array of the logits' array module (a NumPy scalar on the CPU),
    so a GPU training loop can sum losses on the device and read them once per epoch.
    ``check_labels=False`` skips the label range check, which costs a device
    synchronisation on the GPU; the trainer validates labels once when it loads them.
    """

    def __init__(self, *, check_labels: bool = True) -> None:
        self.check_labels = check_flag("SoftmaxCrossEntropy", "check_labels", check_labels)
        self.cache: Optional[tuple] = None

    def forward(self, z: Any, t: Any) -> Any:
        xp = array_module(z)
        if getattr(z, "ndim", None) != 2 or z.dtype.kind != "f":
            raise ValueError(f"SoftmaxCrossEntropy: expected floating logits of shape (batch, classes), "
                             f"got {getattr(z, 'dtype', type(z).__name__)} of shape {getattr(z, 'shape', None)}")
        B, K = z.shape
        t = xp.asarray(t)
        if t.shape != (B,) or t.dtype.kind not in "iu":
            raise ValueError(f"SoftmaxCrossEntropy: expected integer labels of shape ({B},), "
                             f"got {t.dtype} of shape {tuple(t.shape)}")
        if B == 0:
            raise ValueError("SoftmaxCrossEntropy: empty batch")
        if self.check_labels and (int(t.min()) < 0 or int(t.max()) >= K):
            raise ValueError(f"SoftmaxCrossEntropy: labels must lie in [0, {K}), got range "
                             f"[{int(t.min())}, {int(t.max())}]")
        shifted = z - z.max(axis=1, keepdims=True)
        logsum = xp.log(xp.exp(shifted).sum(axis=1, keepdims=True))
        logp = shifted - logsum
        rows = xp.arange(B)
        self.cache = (logp, t, rows)
        return -logp[rows, t].mean()

    def __call__(self, z: Any, t: Any) -> Any:
        # A method, not ``__call__ = forward``: that would bypass a subclass's own forward.
        return self.forward(z, t)

    def __repr__(self) -> str:
        return "SoftmaxCrossEntropy()" if self.check_labels else "SoftmaxCrossEntropy(check_labels=False)"

    def backward(self, dloss: float = 1.0) -> Any:
        if self.cache is None:
            raise RuntimeError("SoftmaxCrossEntropy: backward() called before forward()")
        logp, t, rows = self.cache
        B = logp.shape[0]
        dz = array_module(logp).exp(logp)
        dz[rows, t] -= 1
        dz *= dloss / B
        return dz
