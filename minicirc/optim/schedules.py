"""Learning-rate schedules: functions of the step number, set on ``optimizer.lr`` by the trainer."""
from __future__ import annotations

import math


def cosine_lr(base: float, step: int, total: int, warmup: int = 0) -> float:
    """Linear warm-up for ``warmup`` steps, then cosine decay from ``base`` to 0 at ``total``."""
    if warmup and step < warmup:
        return base * (step + 1) / warmup
    frac = min(1.0, (step - warmup) / max(1, total - warmup))
    return 0.5 * base * (1.0 + math.cos(math.pi * frac))


def constant_lr(base: float, step: int, total: int, warmup: int = 0) -> float:
    if warmup and step < warmup:
        return base * (step + 1) / warmup
    return base
