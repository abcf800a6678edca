"""Where the time of one training step goes: cProfile over a few hundred steps.

    python -m benchmarks.profile_train [--model circulant] [--backend numpy] [--steps 200]

Runs ``--steps`` training steps of the ``minicirc train`` model (its recipe, batch 128) under
cProfile and prints the functions that take the most time of their own, as milliseconds per
step and a share of the step, after a warm-up epoch fragment (JIT compilation, caches).
The steps are one pass over ``128 * steps`` training images, so at most one epoch's batches
(469 on the 60,000 MNIST images): asking for more runs that many, says so, and every figure
is per step actually taken.
"""
from __future__ import annotations

import argparse
import cProfile
import pstats
import sys
import time
from typing import Any, Dict, List, Optional

from minicirc.backends import BACKENDS
from minicirc.mnist.config import TrainConfig
from minicirc.mnist.models import KINDS

from .args import positive_int
from .training import TrainingRun

BATCH = 128


def profile(run: TrainingRun) -> Dict[str, Any]:
    """A warm-up epoch, then one profiled epoch of ``run``: its wall time, the optimizer steps
    it took and the ``pstats.Stats``."""
    run.epoch()                                                             # warm-up
    prof = cProfile.Profile()
    first = run.step
    start = time.perf_counter()
    prof.enable()
    run.epoch()
    prof.disable()
    return {"seconds": time.perf_counter() - start, "steps": run.step - first, "stats": pstats.Stats(prof)}


def main(argv: Optional[List[str]] = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.profile_train", description=__doc__.split("\n\n")[0])
    p.add_argument("--model", choices=KINDS, default="circulant")
    p.add_argument("--block", type=positive_int, default=None, help="block size, for --model block")
    p.add_argument("--backend", choices=BACKENDS, default="numpy")
    p.add_argument("--steps", type=positive_int, default=200,
                   help="training steps to profile (default 200; at most one epoch's batches)")
    p.add_argument("--top", type=positive_int, default=15, help="functions to list (default 15)")
    a = p.parse_args(argv)
    if a.model == "block" and a.block is None:
        p.error("--model block needs --block K (the block size, e.g. --block 16)")
    if a.block is not None and a.model != "block":
        p.error(f"--block is for --model block, not --model {a.model}")
    cfg = TrainConfig(model=a.model, block=a.block, backend=a.backend, epochs=1000,
                      train_limit=BATCH * a.steps, batch_size=BATCH)
    try:
        run = TrainingRun(cfg)
    except ValueError as e:                     # ConfigError, or a model its settings cannot build
        p.error(str(e))
    except RuntimeError as e:                   # a backend that cannot run here (cuda without a GPU)
        p.exit(1, f"{p.prog}: error: {e}\n")
    prof = profile(run)
    total, steps = prof["seconds"], prof["steps"]
    rows = sorted(prof["stats"].stats.items(), key=lambda kv: kv[1][2], reverse=True)[: a.top]  # by own time
    fewer = f"; --steps {a.steps} asked, but one epoch has {steps} batches" if steps < a.steps else ""
    print(f"{a.model} MLP, backend {a.backend}, batch {BATCH}: {1e3 * total / steps:.2f} ms per step "
          f"({steps} steps in {total:.3f} s; profiler overhead included{fewer})")
    if fewer:
        print(f"note: profiled {steps} steps, not {a.steps}: the profile covers one pass over the "
              f"training images", file=sys.stderr)
    print("| function | ms per step (own time) | share |")
    print("| --- | ---: | ---: |")
    for (file, line, name), (cc, nc, tt, ct, callers) in rows:
        where = f"{file.split('minicirc/')[-1]}:{line}" if "minicirc/" in file else file.split("/")[-1]
        print(f"| `{name}` ({where}) | {1e3 * tt / steps:.3f} | {100 * tt / total:.1f}% |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
