"""The device scalars of a captured step: the step count and the learning rate it is taken at.

A replayed CUDA graph reads its inputs from fixed addresses, so the numbers that change from
step to step live in device memory: ``step`` (int64, steps taken so far, what the dropout
masks and Adam's bias correction read) and ``lr`` (float64). The schedule of
``minicirc.optim.schedules`` is evaluated on the device by ``schedule_lr``; ``tick``, the
graph's last node, advances ``step`` and writes the next step's ``lr``, and ``set_step`` (a
launch outside the graph, at the start or on resume) writes both for any step. Either way the
learning rate of step ``k`` comes from the same device code, so a resumed run takes the very
learning rates of an uninterrupted one, with no host write inside a step.
"""
from __future__ import annotations

import math
from typing import Any, Tuple

import numpy as np
from numba import cuda

from .kernels import launch

#: The schedules with a device twin, by the names ``minicirc.mnist`` uses, and their codes.
SCHEDULES = {"cosine": 0, "constant": 1}


@cuda.jit(device=True)
def schedule_lr(kind, base, step, total, warmup):
    """``cosine_lr`` (kind 0) or ``constant_lr`` (kind 1) of ``minicirc.optim.schedules``, in float64."""
    if warmup > 0 and step < warmup:
        return base * (step + 1) / warmup
    if kind == 1:
        return base
    # min and max written out: Numba's CUDA target does not type the builtins on mixed scalars
    span = total - warmup
    if span < 1:
        span = 1
    frac = (step - warmup) / span
    if frac > 1.0:
        frac = 1.0
    return 0.5 * base * (1.0 + math.cos(math.pi * frac))


@cuda.jit
def _set_step(step, lr, value, kind, base, total, warmup):
    if cuda.grid(1) == 0:
        step[0] = value
        lr[0] = schedule_lr(kind, base, value, total, warmup)


@cuda.jit
def _tick(step, lr, kind, base, total, warmup):
    if cuda.grid(1) == 0:
        k = step[0] + 1
        step[0] = k
        lr[0] = schedule_lr(kind, base, k, total, warmup)


class StepScalars:
    """``step`` and ``lr`` on the device, and the schedule that ties them.

    ``xp`` is the array module to allocate with (CuPy; NumPy under the simulator).
    """

    def __init__(self, xp: Any, schedule: str, base: float, total: int, warmup: int = 0) -> None:
        if schedule not in SCHEDULES:
            raise ValueError(f"StepScalars: schedule must be one of {', '.join(SCHEDULES)}, got {schedule!r}")
        if not (isinstance(base, (int, float)) and not isinstance(base, bool) and math.isfinite(base) and base > 0):
            raise ValueError(f"StepScalars: base learning rate must be a finite number > 0, got {base!r}")
        for name, v, lo in (("total", total, 1), ("warmup", warmup, 0)):
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < lo:
                raise ValueError(f"StepScalars: {name} must be an integer >= {lo}, got {v!r}")
        self.xp = xp
        self.args: Tuple[int, float, int, int] = (SCHEDULES[schedule], float(base), int(total), int(warmup))
        self.step = xp.zeros(1, np.int64)
        self.lr = xp.zeros(1, np.float64)

    def set_step(self, k: int, stream: Any = 0) -> None:
        """``step = k`` and ``lr`` = the schedule at ``k`` (one launch; no host-to-device copy)."""
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 0:
            raise ValueError(f"StepScalars.set_step: step must be an integer >= 0, got {k!r}")
        launch(_set_step, (1, 1, 1), (1, 1, 1), stream, 0, self.step, self.lr, int(k), *self.args)

    def tick(self, stream: Any = 0) -> None:
        """``step += 1`` and ``lr`` = the schedule there: the last node of a captured step."""
        launch(_tick, (1, 1, 1), (1, 1, 1), stream, 0, self.step, self.lr, *self.args)


__all__ = ["SCHEDULES", "schedule_lr", "StepScalars"]
