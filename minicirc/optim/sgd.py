"""SGD with momentum, Nesterov momentum and (coupled, L2) weight decay, as in PyTorch::

    g <- g + wd * p
    v <- mu * v + g
    p <- p - lr * (g + mu * v)   (Nesterov)   or   p <- p - lr * v
"""
from __future__ import annotations

from typing import Any, Dict

from .._args import check_flag, check_non_negative, check_unit
from .base import Optimizer


class SGD(Optimizer):
    def __init__(self, model: Any, lr: float = 0.1, *, momentum: float = 0.0,
                 nesterov: bool = False, weight_decay: float = 0.0) -> None:
        super().__init__(model, lr)
        self.momentum = check_unit("SGD", "momentum", momentum)
        self.nesterov = check_flag("SGD", "nesterov", nesterov)
        self.weight_decay = check_non_negative("SGD", "weight_decay", weight_decay)
        if self.nesterov and self.momentum == 0.0:
            raise ValueError("SGD: nesterov=True needs momentum > 0")

    def _settings(self) -> Dict[str, Any]:
        return {"lr": self.lr, "momentum": self.momentum, "nesterov": self.nesterov,
                "weight_decay": self.weight_decay}

    def _update(self, name: str, p: Any, g: Any, st: Dict[str, Any]) -> None:
        if self.weight_decay:
            g = g + self.weight_decay * p
        if self.momentum:
            v = st.get("v")
            if v is None:
                v = st["v"] = g.copy()
            else:
                v *= self.momentum
                v += g
            g = g + self.momentum * v if self.nesterov else v
        p -= (self.lr * g).astype(p.dtype, copy=False)
