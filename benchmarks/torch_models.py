"""The MNIST MLPs written in PyTorch: the reference minicirc is compared against.

Benchmark-only: imported by the benchmarks, never by the library, and PyTorch is not a
dependency (``pip install torch``). Same architectures, initialisation distributions and
recipes as minicirc.mnist.models / minicirc.mnist.recipes; the circulant layer is the same math
(rfft, product, irfft) with autograd's backward.
"""
from __future__ import annotations

import math
from typing import Any, Dict

import numpy as np
import torch
from torch import nn


class TorchCirculant(nn.Module):
    """``y = crop(irfft(rfft(r) rfft(s * pad(x)), n)) + b``, as minicirc.Circulant."""

    def __init__(self, d_in: int, d_out: int, sign_flip: bool = True, gen: Any = None) -> None:
        super().__init__()
        self.d_in, self.d_out, self.n = d_in, d_out, max(d_in, d_out)
        self.r = nn.Parameter(torch.randn(self.n, generator=gen) / math.sqrt(d_in))
        self.b = nn.Parameter(torch.zeros(d_out))
        s = (torch.randint(0, 2, (self.n,), generator=gen) * 2 - 1).float() if sign_flip else torch.ones(self.n)
        self.register_buffer("s", s[:d_in].clone())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        U = torch.fft.rfft(x * self.s, n=self.n)
        R = torch.fft.rfft(self.r)
        return torch.fft.irfft(U * R, n=self.n)[:, : self.d_out] + self.b


def dense(d_in: int, d_out: int, gain: float, gen: Any) -> nn.Linear:
    layer = nn.Linear(d_in, d_out)
    with torch.no_grad():
        layer.weight.copy_(torch.randn(d_out, d_in, generator=gen) * math.sqrt(gain / d_in))
        layer.bias.zero_()
    return layer


def build_torch_mlp(arch: Dict[str, Any], seed: int = 0) -> nn.Sequential:
    """The PyTorch twin of ``minicirc.mnist.models.build_mlp(arch)``."""
    gen = torch.Generator().manual_seed(seed)
    kind, h, L = arch["kind"], arch["hidden"], arch["layers"]
    mods = []
    d = arch.get("d_in", 784)
    if kind not in ("dense", "circulant", "hybrid"):
        raise ValueError(f"no PyTorch twin for kind {kind!r} (there are for dense, circulant and hybrid)")
    for i in range(L):
        if kind == "dense" or (kind == "hybrid" and i == 0):    # hybrid: a dense first layer ...
            mods.append(dense(d, h, 2.0, gen))
        else:                                                   # ... then circulant ones
            mods.append(TorchCirculant(d, h, arch["sign_flip"], gen))
        mods.append(nn.ReLU())
        if arch["dropout"] > 0:
            mods.append(nn.Dropout(arch["dropout"]))
        d = h
    mods.append(dense(d, arch.get("classes", 10), 1.0, gen))
    return nn.Sequential(*mods)


def torch_optimizer(model: nn.Module, config: Any) -> torch.optim.Optimizer:
    """SGD and Adam (coupled L2) or AdamW (decoupled decay), as minicirc.optim."""
    if config.optimizer == "sgd":
        return torch.optim.SGD(model.parameters(), lr=config.lr, momentum=config.momentum,
                               nesterov=config.nesterov, weight_decay=config.weight_decay)
    if config.optimizer == "adam":
        return torch.optim.Adam(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    return torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)


def torch_error(model: nn.Module, X: np.ndarray, y: np.ndarray) -> float:
    model.eval()
    with torch.no_grad():
        pred = torch.cat([model(torch.from_numpy(X[i:i + 2000])).argmax(1) for i in range(0, len(X), 2000)])
    model.train()
    return float((pred.numpy() != y).mean())
