"""Timing several implementations fairly: round-robin blocks of calls, medians per call.

Every benchmark compares minicirc with a reference timed in the same run. Timed one after the
other, the two would see different states of a noisy machine (another process, a clock that
changes, a GPU that warms up), and the ratio would carry that drift: on the H100 the PyTorch
reference's median at one size moved between 0.64 and 1.15 ms from run to run. Interleaved in
short blocks, both meet the same conditions within seconds of each other.

A *timer* turns ``(step, calls)`` into ``calls`` durations in seconds. ``host_timer`` reads the
wall clock around each call (the CPU benchmarks); the GPU benchmark passes timers that record
CUDA events around each call and synchronise once per block.

A fair comparison also needs the same threads on both sides: ``pinned_threads`` sets Numba's and
PyTorch's, and ``threads_in_use`` reads back what every library runs on (NumPy's BLAS reads its
thread count from the environment when it loads, so only the variable can pin it:
``benchmarks/cpu_all.sh`` exports it before Python starts). ``run_meta`` is what a benchmark
report records about the run: versions, machine, load, threads and the command line.
"""
from __future__ import annotations

import gc
import os
import platform
import sys
import time
from contextlib import contextmanager
from typing import Any, Callable, Dict, Iterator, List, Optional

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

    Raises ``ValueError`` for ``calls``, ``per_round`` or ``min_calls`` below 1 (a block of no
    calls would never finish the loop) and for a negative ``budget``.
    """
    for name, v in (("calls", calls), ("per_round", per_round), ("min_calls", min_calls)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
            raise ValueError(f"round_robin: {name} must be a positive integer, got {v!r}")
    if not budget >= 0:                                     # also refuses NaN
        raise ValueError(f"round_robin: budget must be >= 0 seconds, got {budget!r}")
    if isinstance(warmup, bool) or not isinstance(warmup, (int, np.integer)) or warmup < 0:
        raise ValueError(f"round_robin: warmup must be a non-negative integer, got {warmup!r}")
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


# -- the conditions of a run: threads, versions, load ---------------------------------------------

#: The variables NumPy's BLAS reads for its thread count when it loads (OpenBLAS reads the
#: first and the third, MKL the second and the third), in the order they take precedence.
BLAS_ENV = ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "OMP_NUM_THREADS")


class TooManyThreads(ValueError):
    """More threads asked for than Numba started with."""


@contextmanager
def pinned_threads(threads: int, torch: Any = None) -> Iterator[None]:
    """Numba's parallel kernels and, when given, PyTorch on ``threads`` threads for the block,
    then the counts they had before (both are process-wide settings).

    Raises ``TooManyThreads`` when Numba was started with fewer threads (``NUMBA_NUM_THREADS``,
    default the number of cores): it cannot add threads once loaded.
    """
    import numba

    most = numba.config.NUMBA_NUM_THREADS
    if not 1 <= threads <= most:
        raise TooManyThreads(f"{threads} threads asked, but Numba has {most} (NUMBA_NUM_THREADS, default "
                             f"the number of cores); set NUMBA_NUM_THREADS={threads} before Python starts")
    saved = numba.get_num_threads(), (torch.get_num_threads() if torch is not None else None)
    numba.set_num_threads(threads)
    if torch is not None:
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        numba.set_num_threads(saved[0])
        if torch is not None:
            torch.set_num_threads(saved[1])


def threads_in_use(torch: Any = None) -> Dict[str, Any]:
    """The threads each library runs on now: Numba's, PyTorch's (None when not given), and the
    BLAS's as its environment variable sets it (None where none is set: NumPy's BLAS then
    picks its own, usually one per core)."""
    import numba

    blas_env = next((k for k in BLAS_ENV if os.environ.get(k, "").strip()), None)
    blas: Any = None
    if blas_env is not None:
        text = os.environ[blas_env].strip()
        blas = int(text) if text.isdigit() else text
    return {"numba": numba.get_num_threads(), "torch": None if torch is None else torch.get_num_threads(),
            "blas": blas, "blas_env": blas_env}


def describe_threads(threads: Dict[str, Any]) -> str:
    """One line for the log: the threads ``threads_in_use`` found."""
    parts = [f"numba {threads['numba']}"]
    if threads["torch"] is not None:
        parts.append(f"torch {threads['torch']}")
    if threads["blas_env"] is not None:
        parts.append(f"NumPy's BLAS {threads['blas']} ({threads['blas_env']})")
    else:
        parts.append("NumPy's BLAS not pinned (none of " + ", ".join(BLAS_ENV) + " is set: it picks its own)")
    return "threads in use: " + ", ".join(parts)


def run_meta(argv: List[str], torch: Any = None, **extra: Any) -> Dict[str, Any]:
    """What a benchmark report records about its run: versions, machine, cores, load average,
    the threads in use, ``extra`` and the command line (``argv``, as ``write_report`` wants)."""
    import numba
    import scipy

    from minicirc import __version__

    try:
        load = [round(v, 2) for v in os.getloadavg()]
    except (AttributeError, OSError):                      # not on every platform
        load = None
    return {"minicirc": __version__, "numpy": np.__version__, "scipy": scipy.__version__,
            "numba": numba.__version__, "torch": getattr(torch, "__version__", None),
            "python": platform.python_version(), "machine": platform.processor() or platform.machine(),
            "cpus": os.cpu_count(), "load_avg_1_5_15min": load, "threads": threads_in_use(torch),
            **extra, "argv": list(argv)}


def main_with_torch(args: Any, body: Callable[[Any, Any, List[str]], int], argv: Optional[List[str]]) -> int:
    """Run ``body(args, torch, argv)`` with PyTorch, NumPy's BLAS and Numba pinned to
    ``args.threads`` (None: Numba's count, the number of cores), and the caller's counts back
    afterwards: a benchmark's ``main``. A count the machine cannot give is a usage error of
    ``args.parser``."""
    if args.threads is None:
        import numba

        args.threads = numba.get_num_threads()
    import torch

    try:
        with pinned_threads(args.threads, torch):
            return body(args, torch, sys.argv[1:] if argv is None else list(argv))
    except TooManyThreads as e:
        args.parser.error(f"--threads: {e}")    # exits
        raise                                   # unreachable: error() exits
