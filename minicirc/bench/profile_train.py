"""Where the time of one training step goes: cProfile over a few hundred steps.

    python -m minicirc.bench.profile_train [--model circulant] [--backend numpy] [--steps 200]

Runs ``--steps`` training steps of the ``minicirc train`` model (its recipe, batch 128) under
cProfile and prints the functions that take the most time of their own, as milliseconds per
step and a share of the step, after a warm-up epoch fragment (JIT compilation, caches).
"""
from __future__ import annotations

import argparse
import cProfile
import pstats
import time
from typing import List, Optional

from ..train import TrainConfig, Trainer


def main(argv: Optional[List[str]] = None) -> int:
    p = argparse.ArgumentParser(prog="python -m minicirc.bench.profile_train", description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default="circulant")
    p.add_argument("--backend", default="numpy")
    p.add_argument("--steps", type=int, default=200)
    p.add_argument("--top", type=int, default=15)
    a = p.parse_args(argv)
    batch = 128
    cfg = TrainConfig(model=a.model, backend=a.backend, epochs=1000, plot=False, train_limit=batch * a.steps,
                      out="/tmp/minicirc-profile")
    tr = Trainer(cfg, log=lambda s: None, progress=False)
    tr.test_set = (tr.test_set[0][:1], tr.test_set[1][:1])       # evaluation is not part of a step
    tr._train_epoch()                                             # warm-up
    prof = cProfile.Profile()
    start = time.perf_counter()
    prof.enable()
    tr._train_epoch()
    prof.disable()
    total = time.perf_counter() - start
    stats = pstats.Stats(prof)
    rows = sorted(stats.stats.items(), key=lambda kv: kv[1][2], reverse=True)[: a.top]  # by own time
    print(f"{a.model} MLP, backend {a.backend}, batch {batch}: {1e3 * total / a.steps:.2f} ms per step "
          f"({a.steps} steps; profiler overhead included)")
    print("| function | ms per step (own time) | share |")
    print("| --- | ---: | ---: |")
    for (file, line, name), (cc, nc, tt, ct, callers) in rows:
        where = f"{file.split('minicirc/')[-1]}:{line}" if "minicirc/" in file else file.split("/")[-1]
        print(f"| `{name}` ({where}) | {1e3 * tt / a.steps:.3f} | {100 * tt / total:.1f}% |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
