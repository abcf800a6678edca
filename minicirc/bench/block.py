"""Block-circulant layer: time of forward+backward against block size, from dense to circulant.

    python -m minicirc.bench.block [--sizes 1024,4096] [--blocks 1,4,16,64,256] [--batch 128]

For each width n (square layers, float32, batch 128): ``BlockCirculant(n, n, k)`` for each
block size k on the numpy and numba backends, with ``Dense(n, n)`` (k = 1's dense twin) and
``Circulant(n)`` (k = n) timed in the same round-robin as the layer benchmark
(minicirc.bench.layer), medians per call. The parameter count is n^2 / k (+ n bias).
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any, Dict, List, Optional

import numpy as np

from .. import BlockCirculant, Circulant, Dense
from ..backends import get_backend
from . import int_list
from .layer import _minicirc_step
from .timing import round_robin


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
        layers["dense (k=1 twin)/numpy"] = Dense(n, n, rng=1)
        steps = {name: _minicirc_step(layer, x, dy) for name, layer in layers.items()}
        times = round_robin(steps, calls=20, per_round=4, budget=budget)
        for name, layer in layers.items():
            rows.append({"n": n, "impl": name, "params": layer.num_params(), "median_ms": times[name]["median_ms"],
                         "calls": times[name]["calls"]})
    return rows


def main(argv: Optional[List[str]] = None) -> int:
    p = argparse.ArgumentParser(prog="python -m minicirc.bench.block", description=__doc__.split("\n\n")[0])
    p.add_argument("--sizes", default="1024,4096")
    p.add_argument("--blocks", default="1,4,16,64,256")
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--backends", default="numpy,numba")
    p.add_argument("--budget", type=float, default=2.0, help="seconds of timed calls per implementation")
    p.add_argument("--out", default=None, help="write the table (markdown and JSON) into this directory")
    a = p.parse_args(argv)
    rows = run(int_list(a.sizes), int_list(a.blocks), a.batch,
               a.backends.split(","), a.budget)
    lines = [f"| n | layer / backend | trainable params | median ms (batch {a.batch}, float32) |",
             "| ---: | --- | ---: | ---: |"]
    lines += [f"| {r['n']} | {r['impl']} | {r['params']:,} | {r['median_ms']:.3f} |" for r in rows]
    text = "\n".join(lines)
    print(text)
    if a.out:
        out = Path(a.out)
        out.mkdir(parents=True, exist_ok=True)
        (out / "block_bench.md").write_text(text + "\n")
        (out / "block_bench.json").write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
