"""Learning-rate schedules: functions of the step number, set on ``optimizer.lr`` by the trainer."""
from __future__ import annotations

import math

from .._args import check_int, check_positive


def _checked(who: str, base: float, step: int, total: int, warmup: int) -> float:
    check_int(who, "step", step, lo=0)
    check_int(who, "total", total)
    check_int(who, "warmup", warmup, lo=0)
    return check_positive(who, "base", base)


def cosine_lr(base: float, step: int, total: int, warmup: int = 0) -> float:
    """Linear warm-up for ``warmup`` steps, then cosine decay from ``base`` to 0 at ``total``."""
    base = _checked("cosine_lr", base, step, total, warmup)
    if warmup and step < warmup:
        return base * (step + 1) / warmup
    frac = min(1.0, (step - warmup) / max(1, total - warmup))
    return 0.5 * base * (1.0 + math.cos(math.pi * frac))


def constant_lr(base: float, step: int, total: int, warmup: int = 0) -> float:
    """``base`` after a linear warm-up of ``warmup`` steps."""
    base = _checked("constant_lr", base, step, total, warmup)
    if warmup and step < warmup:
        return base * (step + 1) / warmup
    return base
