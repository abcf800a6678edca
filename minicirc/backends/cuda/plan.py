"""One training step of a model on the CUDA backend as a fixed sequence of device work.

``StepPlan`` is what ``graph.GraphStep`` captures, and it runs as it is (uncaptured) too: on a
GPU as the eager twin of the graph, under Numba's simulator (``CudaBackend.simulated``) for
the tests. A step is: the layers' forward, with each ``ReLU`` (and the ``Dropout`` after it)
replaced by ``fused.bias_relu_dropout`` drawing its mask from Philox for ``(seed, step,
index of the Dropout in the Sequential)``; ``SoftmaxCrossEntropy`` with its loss and wrong
answers added to device accumulators; the backward, ``dz = dy * m`` for the fused ReLU; the
gradients gathered into the flat buffer of ``flat.FlatParams``; one fused optimizer launch
reading ``lr`` and ``step`` from ``scalars.StepScalars``; and ``tick``, which advances both.
Nothing in it reads from the device, so a step queues its work and returns.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Tuple

import numpy as np

from ...layers import Dropout, ReLU, Sequential
from ...losses import SoftmaxCrossEntropy
from ...optim import SGD, Adam
from ..base import to_host
from . import fused
from .flat import FlatParams
from .scalars import StepScalars


@dataclass(frozen=True)
class Op:
    """One entry of the plan: a layer run as itself, or a fused ReLU with dropout rate ``p``
    whose mask is keyed by ``key`` (the Dropout's index in the Sequential, or the ReLU's)."""
    layer: Any
    fused_relu: bool = False
    p: float = 0.0
    key: int = 0


def plan_ops(model: Sequential) -> List[Op]:
    """The ops of ``model``'s step: each ReLU fused with the Dropout right after it, if any."""
    if not isinstance(model, Sequential):
        raise TypeError(f"StepPlan: the model must be a minicirc Sequential, got {type(model).__name__}")
    layers, ops, i = list(model.layers), [], 0
    while i < len(layers):
        layer = layers[i]
        if isinstance(layer, ReLU):
            nxt = layers[i + 1] if i + 1 < len(layers) else None
            if isinstance(nxt, Dropout):
                ops.append(Op(layer, True, float(nxt.p), i + 1))
                i += 2
                continue
            ops.append(Op(layer, True, 0.0, i))
        elif isinstance(layer, Dropout):
            if layer.p:
                raise ValueError(f"StepPlan: Dropout at index {i} does not follow a ReLU; the captured step "
                                 "draws dropout masks only in the fused ReLU + Dropout")
        elif isinstance(layer, Sequential):
            raise ValueError(f"StepPlan: layer {i} is a nested Sequential; flatten the model first")
        else:
            ops.append(Op(layer))
        i += 1
    return ops


def _backend(model: Sequential) -> Any:
    backends = {id(m.backend): m.backend for m in model.layers}
    if len(backends) != 1:
        raise ValueError("StepPlan: every layer must share one backend object")
    bk = next(iter(backends.values()))
    if not bk.name.startswith("cuda"):
        raise ValueError(f"StepPlan: the model must be on the cuda backend, got {bk.name!r}")
    return bk


class StepPlan:
    """A training step of ``model`` with ``optimizer``'s rule, state on the device.

    ``seed`` keys the dropout masks. ``schedule`` (``"cosine"`` or ``"constant"``), ``base_lr``,
    ``total`` and ``warmup`` are ``minicirc.optim.schedules``' arguments; the step count
    starts at ``optimizer.t`` (a resumed optimizer resumes there), and the optimizer's state
    is taken over into flat buffers. Until ``export`` hands them back, the optimizer object
    is stale: the plan updates the parameters (the model's own arrays, rebound as views of one
    buffer) and its own moments.
    """

    def __init__(self, model: Sequential, optimizer: Any, *, seed: int, schedule: str, base_lr: float,
                 total: int, warmup: int = 0) -> None:
        self.ops = plan_ops(model)
        self.backend = _backend(model)
        if not model.training:
            raise ValueError("StepPlan: the model is in evaluation mode; call model.train() first")
        if not isinstance(optimizer, (Adam, SGD)) or optimizer.model is not model:
            raise ValueError("StepPlan: optimizer must be a minicirc Adam, AdamW or SGD built for this model")
        fused.philox.split_seed(seed)
        self.model, self.optimizer, self.seed = model, optimizer, int(seed)
        self.xp = self.backend.xp
        self.flat = FlatParams(model)
        self.state = self.flat.state_from(optimizer)
        self.scalars = StepScalars(self.xp, schedule, base_lr, total, warmup)
        self.scalars.set_step(int(optimizer.t), self.backend._stream())
        self.loss_sum = self.xp.zeros(1, np.float64)
        self.errors = self.xp.zeros(1, np.int64)
        self.loss = SoftmaxCrossEntropy(check_labels=False)
        self._masks: List[Optional[Any]] = [None] * len(self.ops)

    # -- the step ------------------------------------------------------------------------
    def run(self, x: Any, t: Any) -> None:
        """Queue one step on CuPy's current stream for inputs ``x`` and integer labels ``t``."""
        stream = self.backend._stream()
        h = x
        for k, op in enumerate(self.ops):
            if op.fused_relu:                 # on (batch, features): an image batch is viewed flat
                y, self._masks[k] = fused.bias_relu_dropout(h.reshape(h.shape[0], -1), None, op.p, self.seed,
                                                            op.key, self.scalars.step, stream)
                h = y.reshape(h.shape)
            else:
                h = op.layer.forward(h)
        self.loss_sum += self.loss.forward(h, t)
        self.errors += (h.argmax(axis=1) != t).sum()
        dy = self.loss.backward()
        for k in reversed(range(len(self.ops))):
            op = self.ops[k]
            if op.fused_relu:
                m = self._masks[k]
                dy = (dy.reshape(m.shape) * m).reshape(dy.shape)
            else:
                dy = op.layer.backward(dy)
            if dy is None:                    # a first layer that skips dx (input_grad=False)
                break
        self.flat.gather_grads(self.model)
        self._update(stream)
        self.scalars.tick(stream)

    def _update(self, stream: Any) -> None:
        opt, f = self.optimizer, self.flat
        if isinstance(opt, Adam):
            fused.adam_update(f.p, f.g, self.state["m"], self.state["v"], self.scalars.lr, self.scalars.step,
                              betas=(opt.b1, opt.b2), eps=opt.eps, weight_decay=opt.weight_decay,
                              decoupled=opt.decoupled, stream=stream)
        else:                                 # the kernel reads v only with momentum
            fused.sgd_update(f.p, f.g, self.state.get("v", f.g), self.scalars.lr, momentum=opt.momentum,
                             nesterov=opt.nesterov, weight_decay=opt.weight_decay, stream=stream)

    # -- what lives on the device ------------------------------------------------------------
    def arrays(self) -> Dict[str, Any]:
        """Every array a step changes in place: parameters, optimizer state, scalars, accumulators."""
        return {"p": self.flat.p, **{f"state/{k}": v for k, v in self.state.items()},
                "step": self.scalars.step, "lr": self.scalars.lr, "loss_sum": self.loss_sum, "errors": self.errors}

    def snapshot(self) -> Dict[str, Any]:
        """Device copies of ``arrays()`` (on the current stream), for ``restore``."""
        return {k: v.copy() for k, v in self.arrays().items()}

    def restore(self, saved: Dict[str, Any]) -> None:
        """Put back what ``snapshot`` took, in place (the addresses a captured graph reads stay)."""
        for k, v in self.arrays().items():
            v[...] = saved[k]

    def read_metrics(self) -> Tuple[float, int]:
        """``(sum of the step losses, wrong answers)`` since the last read, and zero them: one host read."""
        loss, errors = float(to_host(self.loss_sum)[0]), int(to_host(self.errors)[0])
        self.loss_sum[...] = 0
        self.errors[...] = 0
        return loss, errors

    def steps_taken(self) -> int:
        return int(to_host(self.scalars.step)[0])

    def export(self) -> Any:
        """Hand the state back to the optimizer (its moments as views, its step count, its
        learning rate the schedule's for the next step) so it can be saved; returns it."""
        self.flat.state_to(self.optimizer, self.state, self.steps_taken())
        self.optimizer.lr = float(to_host(self.scalars.lr)[0])
        return self.optimizer


__all__ = ["Op", "plan_ops", "StepPlan"]
