"""The MNIST models written in PyTorch: the reference minicirc is compared against.

Benchmark-only: imported by the benchmarks, never by the library, and PyTorch is not a
dependency (``pip install torch``). Same architectures, initialisation distributions and
recipes as minicirc.mnist.models / minicirc.mnist.recipes (the MLPs of ``build_mlp`` and the
LeNet CNNs of ``build_cnn``); the circulant and block-circulant layers are the same math (rfft,
product, irfft) with autograd's backward. Same distributions, not the same numbers: a twin
draws its own from its seed. ``copy_weights`` gives a twin minicirc's numbers, and
``twin_arrays`` reads them (or their gradients) back in minicirc's names and layouts, which is
how the tests show that a twin computes what minicirc computes.
"""
from __future__ import annotations

import math
from typing import Any, Dict, Optional

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


class TorchBlockCirculant(nn.Module):
    """A grid of ``k x k`` circulant blocks, as minicirc.BlockCirculant: ``r`` (p, q, k),
    signs on the input padded to ``q k``, ``Y[b, i] = sum_j R[i, j] U[b, j]`` per frequency."""

    def __init__(self, d_in: int, d_out: int, block: int, sign_flip: bool = True, gen: Any = None) -> None:
        super().__init__()
        self.d_in, self.d_out, self.k = d_in, d_out, block
        self.p, self.q = -(-d_out // block), -(-d_in // block)
        self.r = nn.Parameter(torch.randn(self.p, self.q, block, generator=gen) / math.sqrt(d_in))
        self.b = nn.Parameter(torch.zeros(d_out))
        n = self.q * block
        s = (torch.randint(0, 2, (n,), generator=gen) * 2 - 1).float() if sign_flip else torch.ones(n)
        self.register_buffer("s", s[:d_in].clone())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, k = x.shape[0], self.k
        u = nn.functional.pad(x * self.s, (0, self.q * k - self.d_in)).reshape(B, self.q, k)
        Y = torch.einsum("ijf,bjf->bif", torch.fft.rfft(self.r, n=k), torch.fft.rfft(u, n=k))
        return torch.fft.irfft(Y, n=k).reshape(B, self.p * k)[:, : self.d_out] + self.b


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


def conv(c_in: int, c_out: int, kernel: int, gain: float, gen: Any) -> nn.Conv2d:
    """``W ~ U(-a, a)``, ``a = sqrt(3 gain / fan_in)``, ``b = 0``: minicirc.Conv2D's initialisation."""
    layer = nn.Conv2d(c_in, c_out, kernel)
    a = math.sqrt(3.0 * gain / (c_in * kernel * kernel))
    with torch.no_grad():
        layer.weight.copy_((torch.rand(c_out, c_in, kernel, kernel, generator=gen) * 2 - 1) * a)
        layer.bias.zero_()
    return layer


def build_torch_cnn(head: str = "circulant", hidden: int = 500, sign_flip: bool = True,
                    block: Optional[int] = None, dropout: float = 0.0, seed: int = 0) -> nn.Sequential:
    """The PyTorch twin of ``minicirc.mnist.models.build_cnn(head, ...)``: the same LeNet trunk,
    head and initial distributions, layer for layer at the same indices of the Sequential."""
    from minicirc.mnist.models import CNN_FEATURES, CNN_HEADS, architecture

    if head not in CNN_HEADS:
        raise ValueError(f"build_torch_cnn: unknown head {head!r}; choose one of {', '.join(CNN_HEADS)}")
    arch = architecture(head, hidden=hidden, layers=1, sign_flip=sign_flip, dropout=dropout, block=block,
                        d_in=CNN_FEATURES)                    # minicirc's checks and messages
    gen = torch.Generator().manual_seed(seed)
    h = arch["hidden"]
    if head == "dense":
        fc: nn.Module = dense(CNN_FEATURES, h, 2.0, gen)
    elif head == "circulant":
        fc = TorchCirculant(CNN_FEATURES, h, arch["sign_flip"], gen)
    else:
        fc = TorchBlockCirculant(CNN_FEATURES, h, arch["block"], arch["sign_flip"], gen)
    mods = [conv(1, 20, 5, 2.0, gen), nn.MaxPool2d(2), nn.ReLU(),      # build_cnn's order: pool, then ReLU
            conv(20, 50, 5, 2.0, gen), nn.MaxPool2d(2), nn.ReLU(),
            nn.Flatten(), fc, nn.ReLU()]
    if arch["dropout"] > 0:
        mods.append(nn.Dropout(arch["dropout"]))
    mods.append(dense(h, arch["classes"], 1.0, gen))
    return nn.Sequential(*mods)


#: minicirc's parameter name -> the twin's, per layer type (a Dense's W is the transpose).
_TWIN_NAMES = {"Dense": {"W": "weight", "b": "bias"}, "Conv2D": {"W": "weight", "b": "bias"},
               "Circulant": {"r": "r", "b": "b"}, "BlockCirculant": {"r": "r", "b": "b"}}


def _pairs(model: Any, twin: nn.Sequential) -> Any:
    """``(index, minicirc layer, twin module)`` for every layer with parameters; the two
    Sequentials hold their layers at the same indices (``build_torch_mlp``/``build_torch_cnn``)."""
    mine, theirs = list(model.layers), list(twin)
    if len(mine) != len(theirs):
        raise ValueError(f"not twins: {len(mine)} minicirc layers, {len(theirs)} PyTorch modules")
    for i, (a, b) in enumerate(zip(mine, theirs)):
        if a.params:
            kind = type(a).__name__
            if kind not in _TWIN_NAMES:
                raise ValueError(f"layer {i}: no PyTorch twin for {kind}")
            yield i, a, b


def copy_weights(model: Any, twin: nn.Sequential) -> None:
    """Give ``twin`` the parameters and sign buffers of the minicirc ``model`` (host arrays)."""
    with torch.no_grad():
        for i, a, b in _pairs(model, twin):
            kind = type(a).__name__
            for name, tname in _TWIN_NAMES[kind].items():
                if name in a.params:
                    v = np.asarray(a.params[name])
                    getattr(b, tname).copy_(torch.from_numpy(v.T.copy() if kind == "Dense" and name == "W" else v))
            if "signs" in a.buffers:
                b.s.copy_(torch.from_numpy(np.asarray(a.buffers["signs"])[: a.d_in]))


def twin_arrays(model: Any, twin: nn.Sequential, grads: bool = False) -> Dict[str, np.ndarray]:
    """The twin's parameters (``grads``: their gradients) named and laid out as minicirc's
    ``model.named_parameters()`` names them: ``{"0.W": ..., "7.r": ...}``."""
    out = {}
    for i, a, b in _pairs(model, twin):
        kind = type(a).__name__
        for name, tname in _TWIN_NAMES[kind].items():
            if name in a.params:
                t = getattr(b, tname)
                t = t.grad if grads else t
                v = None if t is None else t.detach().numpy()
                out[f"{i}.{name}"] = v.T if v is not None and kind == "Dense" and name == "W" else v
    return out


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
