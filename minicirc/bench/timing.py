"""Timing several implementations fairly: round-robin blocks of calls, medians per call.

Every benchmark compares minicirc with a reference timed in the same run. Timed one after the
other, the two would see different states of a noisy machine (another process, a clock that
changes, a GPU that warms up), and the ratio would carry that drift: on the H100 the PyTorch
reference's median at one size moved between 0.64 and 1.15 ms from run to run. Interleaved in
short blocks, both meet the same conditions within seconds of each other.

A *timer* turns ``(step, calls)`` into ``calls`` durations in seconds. ``host_timer`` reads the
wall clock around each call (the CPU benchmarks); the GPU benchmark passes timers that record
CUDA events around each call and synchronise once per block.
"""
from __future__ import annotations

import gc
import time
from typing import Any, Callable, Dict, List, Optional

import numpy as np

Step = Callable[[], Any]
Timer = Callable[[Step, int], List[float]]


def host_timer(step: Step, calls: int) -> List[float]:
    """Seconds of each of ``calls`` calls of ``step``, by the wall clock."""
    out = []
    for _ in range(calls):
        t0 = time.perf_counter()
        step()
        out.append(time.perf_counter() - t0)
    return out


def summary(seconds: List[float]) -> Dict[str, float]:
    """Median, 10th and 90th percentile in milliseconds, and the number of calls."""
    t = 1e3 * np.asarray(seconds, dtype=np.float64)
    return {"median_ms": float(np.median(t)), "p10_ms": float(np.percentile(t, 10)),
            "p90_ms": float(np.percentile(t, 90)), "calls": int(t.size)}


def round_robin(steps: Dict[str, Step], calls: int, per_round: int, budget: float, *,
                timers: Optional[Dict[str, Timer]] = None, warmup: int = 1, min_calls: int = 3,
                errors: Optional[Dict[str, str]] = None) -> Dict[str, Dict[str, float]]:
    """Time every step in turn, ``per_round`` calls at a time, until each has its share.

    Each step first runs ``warmup`` untimed calls (compilation, FFT plans, page faults) and
    one timed call, which sizes its share: ``calls`` timed calls, fewer if they would take
    more than ``budget`` seconds, never fewer than ``min_calls``. Then the steps take turns,
    a block of ``per_round`` calls each, so that all of them are timed under the same
    conditions. ``timers[name]`` times a step (default: ``host_timer``).

    With ``errors`` given, a step that raises is left out of the result and its error is
    recorded there under its name; without it the exception propagates.
    """
    timers = timers or {}
    live: Dict[str, Step] = {}
    wanted: Dict[str, int] = {}
    times: Dict[str, List[float]] = {}

    def attempt(name: str, job: Callable[[], Any]) -> Any:
        try:
            return job()
        except Exception as e:
            if errors is None:
                raise
            errors[name] = f"{type(e).__name__}: {e}"
            live.pop(name, None)
            return None

    def first_calls(step: Step, timer: Timer) -> List[float]:
        for _ in range(warmup):
            step()
        return timer(step, 1)

    for name, step in steps.items():
        live[name] = step
        estimate = attempt(name, lambda: first_calls(step, timers.get(name, host_timer)))
        if name in live:
            share = int(budget / max(estimate[0], 1e-9))
            wanted[name] = max(min_calls, min(calls, share))
            times[name] = []
    gc.collect()
    gc.disable()                      # a collection inside a timed block would land on one step
    try:
        while any(len(times[k]) < wanted[k] for k in live):
            for name in list(live):
                block = min(per_round, wanted[name] - len(times[name]))
                if block > 0:
                    got = attempt(name, lambda: timers.get(name, host_timer)(live[name], block))
                    if got is not None:
                        times[name] += got
    finally:
        gc.enable()
    return {name: summary(times[name]) for name in steps if name in live}
