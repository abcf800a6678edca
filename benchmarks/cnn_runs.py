"""Training runs of the MNIST CNN (``build_cnn``) and of its PyTorch twin, step by step, for the
CNN benchmarks to time (``cnn_epoch``) and train (``cnn_twins``).

Both sides take the same recipe (``cnn_recipe``: ``RECIPES["cnn"]`` with ``TrainConfig``'s
batch size and schedule), the same images reshaped to (B, 1, 28, 28), and batches from
``minicirc.batches.Batches`` drawn with the same seed; each step sets the learning rate from
the schedule, as ``minicirc train`` does, then takes one optimizer step::

    opt.lr = schedule(lr, step, total_steps, warmup)
    train_step(model, loss, opt, xb, yb)           # PyTorch: zero_grad, forward, backward, step
"""
from __future__ import annotations

from types import SimpleNamespace
from typing import Any, Iterator, Optional, Tuple

import numpy as np

from minicirc import SoftmaxCrossEntropy, get_backend, train_step
from minicirc.batches import Batches
from minicirc.mnist.config import SCHEDULES, TrainConfig
from minicirc.mnist.models import build_cnn
from minicirc.mnist.recipes import RECIPES
from minicirc.mnist.train import make_optimizer


def cnn_recipe(**overrides: Any) -> SimpleNamespace:
    """``RECIPES["cnn"]`` (optimizer, lr, weight decay, dropout, epochs) with ``TrainConfig``'s
    defaults for what a recipe leaves out (batch size, schedule, warm-up, SGD momentum), then
    ``overrides`` (None leaves a value as it is)."""
    defaults = TrainConfig()
    recipe = {"momentum": 0.9, "nesterov": False, "batch_size": defaults.batch_size,
              "schedule": defaults.schedule, "warmup": defaults.warmup, **RECIPES["cnn"]}
    recipe.update({k: v for k, v in overrides.items() if v is not None})
    return SimpleNamespace(**recipe)


def images(X: np.ndarray) -> np.ndarray:
    """MNIST's (N, 784) rows as (N, 1, 28, 28) images (a view)."""
    return X.reshape(len(X), 1, 28, 28)


def _endless(batches: Batches) -> Iterator[Tuple[Any, Any]]:
    while True:
        yield from batches


class _Run:
    """What both sides share: the recipe, the batches, the schedule and the step count."""

    def __init__(self, X: np.ndarray, y: np.ndarray, recipe: SimpleNamespace, seed: int,
                 total_steps: Optional[int], asarray: Any = np.asarray) -> None:
        self.recipe = recipe
        self.batches = Batches(asarray(images(X)), asarray(y), recipe.batch_size,
                               seed=np.random.default_rng(seed))
        self._next = _endless(self.batches)
        self.schedule = SCHEDULES[recipe.schedule]
        self.total_steps = total_steps or recipe.epochs * len(self.batches)
        self.step = 0                                    # optimizer steps taken

    def lr(self) -> float:
        r = self.recipe
        return self.schedule(r.lr, min(self.step, self.total_steps), self.total_steps, r.warmup)

    def steps(self, k: int) -> None:
        """``k`` training steps over the next ``k`` batches (on into the next epoch if need be)."""
        for _ in range(k):
            xb, yb = next(self._next)
            self._train(xb, yb)
            self.step += 1

    def _train(self, xb: Any, yb: Any) -> None:
        raise NotImplementedError


class MinicircCNN(_Run):
    """``build_cnn(head)`` on ``backend``, the recipe's optimizer (``make_optimizer``, as
    ``minicirc train``), ``SoftmaxCrossEntropy`` and ``train_step``."""

    def __init__(self, head: str, X: np.ndarray, y: np.ndarray, recipe: SimpleNamespace, *, backend: str = "numpy",
                 seed: int = 0, hidden: int = 500, block: Optional[int] = None,
                 total_steps: Optional[int] = None, dtype: Any = np.float32) -> None:
        self.backend = get_backend(backend)
        super().__init__(X.astype(dtype, copy=False), y, recipe, seed, total_steps, self.backend.asarray)
        self.model = build_cnn(head, hidden=hidden, block=block, dropout=recipe.dropout, rng=seed,
                               dtype=dtype, backend=self.backend)
        self.loss = SoftmaxCrossEntropy(check_labels=False)   # MNIST's labels were checked on load
        self.opt = make_optimizer(recipe, self.model)
        self.model.train()

    def _train(self, xb: Any, yb: Any) -> None:
        self.opt.lr = self.lr()
        train_step(self.model, self.loss, self.opt, xb, yb)


class TorchCNN(_Run):
    """The twin (``build_torch_cnn``), the recipe's optimizer in PyTorch, cross entropy.
    ``seed`` draws its weights, its dropout masks (PyTorch's global generator) and the batches."""

    def __init__(self, head: str, X: np.ndarray, y: np.ndarray, recipe: SimpleNamespace, *, seed: int = 0,
                 hidden: int = 500, block: Optional[int] = None, total_steps: Optional[int] = None,
                 dtype: Any = np.float32) -> None:
        import torch

        from .torch_models import build_torch_cnn, torch_optimizer

        super().__init__(X.astype(dtype, copy=False), y, recipe, seed, total_steps)
        self.torch = torch
        torch.manual_seed(seed)
        self.model = build_torch_cnn(head, hidden=hidden, block=block, dropout=recipe.dropout, seed=seed)
        self.model.to(getattr(torch, np.dtype(dtype).name))
        self.opt = torch_optimizer(self.model, recipe)
        self.loss = torch.nn.CrossEntropyLoss()
        self.model.train()

    def _train(self, xb: Any, yb: Any) -> None:
        lr = self.lr()
        for g in self.opt.param_groups:
            g["lr"] = lr
        self.opt.zero_grad(set_to_none=True)
        self.loss(self.model(self.torch.from_numpy(xb)), self.torch.from_numpy(yb)).backward()
        self.opt.step()

    def error(self, X: np.ndarray, y: np.ndarray) -> float:
        """The fraction of ``(X, y)`` misclassified, in evaluation mode (no dropout)."""
        from .torch_models import torch_error

        return torch_error(self.model, images(X), y)
