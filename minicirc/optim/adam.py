"""Adam (Kingma & Ba) with decoupled weight decay (AdamW, Loshchilov & Hutter)::

    m <- b1 m + (1 - b1) g          v <- b2 v + (1 - b2) g^2
    p <- p - lr * ( m / (1 - b1^t) / (sqrt(v / (1 - b2^t)) + eps) + wd * p )

Decoupled decay multiplies every weight by ``1 - lr * wd`` per step whatever its gradient
scale, which is what regularises the circulant MLP (its recipe: AdamW, wd 0.1;
docs/results/tuning.md). Derivation: docs/derivation.md, "The rest".
"""
from __future__ import annotations

from typing import Any, Dict

from .base import Optimizer


class Adam(Optimizer):
    def __init__(self, model: Any, lr: float = 1e-3, *, betas: tuple = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0.0) -> None:
        super().__init__(model, lr)
        try:
            b1, b2 = (float(b) for b in betas)
        except (TypeError, ValueError):
            raise ValueError(f"Adam: betas must be a pair of numbers (b1, b2), got {betas!r}") from None
        if not (0.0 <= b1 < 1.0 and 0.0 <= b2 < 1.0):
            raise ValueError(f"Adam: betas must be in [0, 1), got {betas!r}")
        if not 0.0 < eps < float("inf"):
            raise ValueError(f"Adam: eps must be a positive finite number, got {eps!r}")
        if weight_decay < 0:
            raise ValueError(f"Adam: weight_decay must be >= 0, got {weight_decay!r}")
        self.b1, self.b2, self.eps, self.weight_decay = float(b1), float(b2), float(eps), float(weight_decay)

    def _settings(self) -> Dict[str, Any]:
        return {"lr": self.lr, "betas": (self.b1, self.b2), "eps": self.eps, "weight_decay": self.weight_decay}

    def _update(self, name: str, p: Any, g: Any, st: Dict[str, Any]) -> None:
        if "m" not in st:
            st["m"] = g * 0
            st["v"] = g * 0
        m, v = st["m"], st["v"]
        m *= self.b1
        m += (1 - self.b1) * g
        v *= self.b2
        v += (1 - self.b2) * (g * g)
        c1 = 1 - self.b1 ** self.t
        c2 = 1 - self.b2 ** self.t
        step = (m / c1) / ((v / c2) ** 0.5 + self.eps)
        if self.weight_decay:
            step += self.weight_decay * p
        p -= (self.lr * step).astype(p.dtype, copy=False)
