"""Block-circulant layer: time of forward+backward against block size, from dense to circulant.

    python -m benchmarks.block [--sizes 1024,4096] [--blocks 1,4,16,64,256] [--batch 128]

For each width n (square layers, float32, batch 128): ``BlockCirculant(n, n, k)`` for each
block size k on the numpy and numba backends, with ``Dense(n, n)`` (k = 1's dense twin) and
``Circulant(n)`` (k = n) timed in the same round-robin as the layer benchmark
(benchmarks.layer), medians per call, and each one's ratio to the dense layer's time. The
parameter count is n^2 / k (+ n bias). ``--out`` writes ``DIR/block_bench.{md,json}`` with the
command, versions and threads in use.
"""
from __future__ import annotations

import argparse
import sys
from typing import Any, Dict, List, Optional

import numpy as np

from minicirc import BlockCirculant, Circulant, Dense
from minicirc.backends import get_backend
from .args import int_list, nonneg_float, positive_int
from . import write_report
from .layer import _minicirc_step, backend_list
from .timing import describe_threads, round_robin, run_meta, threads_in_use

DENSE = "dense (k=1 twin)/numpy"


def run(sizes: List[int], blocks: List[int], batch: int, backends: List[str], budget: float) -> List[Dict[str, Any]]:
    rows = []
    rng = np.random.default_rng(0)
    for n in sizes:
        x = rng.standard_normal((batch, n)).astype(np.float32)
        dy = rng.standard_normal((batch, n)).astype(np.float32)
        layers: Dict[str, Any] = {}
        for bk in backends:
            for k in [k for k in blocks if k <= n and k != n]:
                layers[f"block-{k}/{bk}"] = BlockCirculant(n, n, k, rng=1, backend=get_backend(bk))
            layers[f"circulant (k={n})/{bk}"] = Circulant(n, rng=1, backend=get_backend(bk))
        layers[DENSE] = Dense(n, n, rng=1)
        steps = {name: _minicirc_step(layer, x, dy) for name, layer in layers.items()}
        times = round_robin(steps, calls=20, per_round=4, budget=budget)
        dense_ms = times[DENSE]["median_ms"]
        for name, layer in layers.items():
            rows.append({"n": n, "impl": name, "params": layer.num_params(), "median_ms": times[name]["median_ms"],
                         "calls": times[name]["calls"], "ratio_vs_dense": times[name]["median_ms"] / dense_ms})
    return rows


def main(argv: Optional[List[str]] = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.block", description=__doc__.split("\n\n")[0])
    p.add_argument("--sizes", type=int_list, default=[1024, 4096], help="widths n (default 1024,4096)")
    p.add_argument("--blocks", type=int_list, default=[1, 4, 16, 64, 256],
                   help="block sizes k (default 1,4,16,64,256)")
    p.add_argument("--batch", type=positive_int, default=128)
    p.add_argument("--backends", type=backend_list, default=["numpy", "numba"],
                   help="minicirc backends (default numpy,numba)")
    p.add_argument("--budget", type=nonneg_float, default=2.0, help="seconds of timed calls per implementation")
    p.add_argument("--out", default=None, help="write block_bench.{md,json} into this directory")
    a = p.parse_args(argv)
    print(describe_threads(threads_in_use()), flush=True)
    rows = run(a.sizes, a.blocks, a.batch, a.backends, a.budget)
    lines = [f"| n | layer / backend | trainable params | median ms (batch {a.batch}, float32) | ratio to dense |",
             "| ---: | --- | ---: | ---: | ---: |"]
    lines += [f"| {r['n']} | {r['impl']} | {r['params']:,} | {r['median_ms']:.3f} | {r['ratio_vs_dense']:.2f} |"
              for r in rows]
    text = "\n".join(lines)
    print(text)
    if a.out:
        meta = run_meta(sys.argv[1:] if argv is None else list(argv),
                        timing="median of round-robin calls: up to 20 per implementation in blocks of 4, "
                               f"budget {a.budget:g} s each")
        write_report(a.out, "block_bench", "Block-circulant layer forward+backward against block size, "
                     "median ms per call", "benchmarks.block", meta, text, rows)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
