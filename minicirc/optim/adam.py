"""Adam (Kingma & Ba) and AdamW (Loshchilov & Hutter), with PyTorch's meaning of weight decay.

``Adam``: the decay is an L2 penalty added to the gradient, so it passes through the moments
and is rescaled by them (``weight_decay=0`` by default, as in PyTorch)::

    g <- g + wd * p
    m <- b1 m + (1 - b1) g          v <- b2 v + (1 - b2) g^2
    p <- p - lr * m / (1 - b1^t) / (sqrt(v / (1 - b2^t)) + eps)

``AdamW``: the decay is decoupled from the gradient::

    p <- p - lr * ( m / (1 - b1^t) / (sqrt(v / (1 - b2^t)) + eps) + wd * p )

so every weight shrinks by ``1 - lr * wd`` per step whatever its gradient scale, which is
what regularises the circulant MLP (its recipe: AdamW, wd 0.1;
docs/results/tuning.md). Derivation: docs/derivation.md, "The rest".
"""
from __future__ import annotations

from typing import Any, Dict

from .._args import check_non_negative, check_pair_unit, check_positive
from .base import Optimizer


class Adam(Optimizer):
    """Adam; ``weight_decay`` is L2 added to the gradient (``AdamW`` decouples it)."""

    #: False: the decay joins the gradient (L2). True in AdamW: it is applied to the weights.
    decoupled = False

    def __init__(self, model: Any, lr: float = 1e-3, *, betas: tuple = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0.0) -> None:
        super().__init__(model, lr)
        who = type(self).__name__
        self.b1, self.b2 = check_pair_unit(who, "betas", betas)
        self.eps = check_positive(who, "eps", eps)
        self.weight_decay = check_non_negative(who, "weight_decay", weight_decay)

    def _settings(self) -> Dict[str, Any]:
        return {"lr": self.lr, "betas": (self.b1, self.b2), "eps": self.eps, "weight_decay": self.weight_decay}

    def _update(self, name: str, p: Any, g: Any, st: Dict[str, Any]) -> None:
        if self.weight_decay and not self.decoupled:
            g = g + self.weight_decay * p
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
        if self.weight_decay and self.decoupled:
            step += self.weight_decay * p
        p -= (self.lr * step).astype(p.dtype, copy=False)


class AdamW(Adam):
    """Adam with decoupled weight decay (default ``weight_decay=0.01``, as in PyTorch)."""

    decoupled = True

    def __init__(self, model: Any, lr: float = 1e-3, *, betas: tuple = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 1e-2) -> None:
        super().__init__(model, lr, betas=betas, eps=eps, weight_decay=weight_decay)
