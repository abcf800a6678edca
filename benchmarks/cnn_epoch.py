"""Training time of the MNIST CNN (LeNet trunk, circulant or dense head), minicirc against its
PyTorch twin, in the same run and on the same threads.

    python -m benchmarks.cnn_epoch [--heads circulant dense] [--backends numpy numba]
                                   [--steps 20] [--repeats 7] [--threads 2] [--out DIR]

A timed call is a block of ``--steps`` training steps (batch 128 by the recipe: forward, loss,
backward, AdamW step at the schedule's learning rate; no evaluation) over MNIST's training
images, the model of ``minicirc.mnist.models.build_cnn`` with ``RECIPES["cnn"]`` on one side
and its twin (``benchmarks.torch_models.build_torch_cnn``) with ``torch.optim.AdamW`` on the
other. Every implementation of every head takes turns, one block each, ``--repeats`` times
(after one untimed block and one sizing block), with a ``--settle`` pause before each block
so that the previous block's spinning threads (OpenBLAS, OpenMP) are idle. The table reports
the median block, extrapolated to one epoch of 60,000 images (``ceil(60000 / batch)`` steps),
with the 10th-90th percentile range, its ratio to PyTorch's, and each implementation's
circulant head against its dense head; the report keeps every block's seconds. On a machine
shared with other work the blocks that meet a busy neighbour are several times slower, and
two-thread blocks suffer most (a parallel region waits for its slowest thread): read the
percentiles before the median there.
``--out`` writes it as ``DIR/cnn_epoch_bench.{md,json}`` with the command, versions and threads.

Threads as in ``benchmarks.epoch``: ``--threads`` sets PyTorch's, Numba's and minicirc's numba
backend's; NumPy's BLAS (the convolutions' and dense layers' matrix products) only through
``OPENBLAS_NUM_THREADS`` and the like, set before Python starts (``benchmarks/cpu_all.sh``).
"""
from __future__ import annotations

import argparse
import math
import time
from typing import Any, Dict, List, Optional

from . import write_report
from .args import nonneg_float, positive_int
from .epoch import _names, _numba_workers
from .layer import CPU_BACKENDS
from .timing import main_with_torch, describe_threads, host_timer, round_robin, run_meta, \
    threads_in_use

#: The heads with a PyTorch twin that this benchmark times (block needs a block size: --block).
HEADS = ("circulant", "dense", "block")
#: The images of one MNIST training epoch, to which the timed blocks are extrapolated.
EPOCH_IMAGES = 60_000


def settled(pause: float, record: Optional[List[float]] = None) -> Any:
    """A timer that waits ``pause`` seconds, untimed, before each block of calls, and appends
    each call's seconds to ``record`` when given (the sizing call's too: drop the first)."""
    def timer(step: Any, calls: int) -> List[float]:
        if pause:
            time.sleep(pause)
        got = host_timer(step, calls)
        if record is not None:
            record.extend(got)
        return got
    return timer


def time_cnn(heads: List[str], backends: List[str], steps: int, repeats: int, threads: int, *,
             settle: float = 0.5, batch: Optional[int] = None, block: Optional[int] = None,
             train_limit: Optional[int] = None) -> List[Dict[str, Any]]:
    """One row per (head, implementation): the median seconds of a block of ``steps`` steps and
    its extrapolation to an epoch, on the ``threads`` the caller pinned (``timing.pinned_threads``)."""
    from minicirc.mnist import load_mnist

    from .cnn_runs import MinicircCNN, TorchCNN, cnn_recipe

    recipe = cnn_recipe(batch_size=batch)
    X, y = load_mnist().train
    if train_limit:
        X, y = X[:train_limit], y[:train_limit]
    runs: Dict[str, Any] = {}
    workers: Dict[str, Optional[int]] = {}
    for head in heads:
        for bk in backends:
            run = MinicircCNN(head, X, y, recipe, backend=bk, block=block)
            runs[f"{head}/minicirc-{bk}"] = run
            workers[f"{head}/minicirc-{bk}"] = _numba_workers(run, threads)
        runs[f"{head}/pytorch"] = TorchCNN(head, X, y, recipe, block=block)
        workers[f"{head}/pytorch"] = None
    seconds: Dict[str, List[float]] = {name: [] for name in runs}
    times = round_robin({name: (lambda run=run: run.steps(steps)) for name, run in runs.items()},
                        calls=repeats, per_round=1, budget=1e9, min_calls=repeats,
                        timers={name: settled(settle, seconds[name]) for name in runs})
    per_epoch = math.ceil(EPOCH_IMAGES / recipe.batch_size) / steps          # blocks per epoch
    rows = []
    for name, t in times.items():
        head, impl = name.split("/")
        rows.append({"head": head, "impl": impl, "block_median_s": t["median_ms"] / 1e3,
                     "step_median_ms": t["median_ms"] / steps, "epoch_s": t["median_ms"] / 1e3 * per_epoch,
                     "epoch_p10_s": t["p10_ms"] / 1e3 * per_epoch, "epoch_p90_s": t["p90_ms"] / 1e3 * per_epoch,
                     "blocks": t["calls"], "block_seconds": seconds[name][1:],    # [0]: the sizing call
                     "steps_per_block": steps, "batch": recipe.batch_size,
                     "numba_backend_workers": workers[name]})
    epoch = {(r["head"], r["impl"]): r["epoch_s"] for r in rows}
    for r in rows:
        r["ratio_vs_pytorch"] = r["epoch_s"] / epoch[(r["head"], "pytorch")]
        dense = epoch.get(("dense", r["impl"]))
        r["ratio_vs_dense_head"] = None if dense is None else r["epoch_s"] / dense
    return rows


def table(rows: List[Dict[str, Any]], repeats: int, steps: int) -> str:
    lines = [f"| head | implementation | epoch (s; median of {repeats} blocks of {steps} steps, extrapolated) "
             "| p10-p90 (s) | ratio to PyTorch | this head / dense head |",
             "| --- | --- | ---: | ---: | ---: | ---: |"]
    for r in rows:
        vs_dense = "-" if r["ratio_vs_dense_head"] is None else f"{r['ratio_vs_dense_head']:.2f}"
        lines.append(f"| {r['head']} | {r['impl']} | {r['epoch_s']:.1f} | {r['epoch_p10_s']:.1f}-"
                     f"{r['epoch_p90_s']:.1f} | {r['ratio_vs_pytorch']:.2f} | {vs_dense} |")
    return "\n".join(lines)


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m benchmarks.cnn_epoch", description=__doc__.split("\n\n")[0])
    p.add_argument("--heads", nargs="+", action=_names(HEADS, "head"), default=["circulant", "dense"],
                   metavar="{" + ",".join(HEADS) + "}", help="the CNN's fully-connected heads "
                   "(default circulant dense; block needs --block)")
    p.add_argument("--block", type=positive_int, default=None, help="block size of the block head")
    p.add_argument("--backends", nargs="+", action=_names(CPU_BACKENDS, "backend"), default=["numpy", "numba"],
                   metavar="{" + ",".join(CPU_BACKENDS) + "}", help="minicirc backends (default numpy numba)")
    p.add_argument("--steps", type=positive_int, default=20, help="training steps per timed block (default 20)")
    p.add_argument("--repeats", type=positive_int, default=7, help="timed blocks per implementation (default 7)")
    p.add_argument("--batch", type=positive_int, default=None, help="images per step (default the recipe's, 128)")
    p.add_argument("--settle", type=nonneg_float, default=0.5,
                   help="seconds of pause before each block, for the last one's threads to go idle (default 0.5)")
    p.add_argument("--threads", type=positive_int, default=None,
                   help="threads for PyTorch, Numba and minicirc's numba backend (default: Numba's, the "
                        "number of cores); NumPy's BLAS only through OPENBLAS_NUM_THREADS and the like")
    p.add_argument("--train-limit", type=positive_int, default=None,
                   help="cycle through the first N training images only (smoke tests)")
    p.add_argument("--out", default=None, help="directory for cnn_epoch_bench.{md,json}")
    args = p.parse_args(argv)
    if "block" in args.heads and args.block is None:
        p.error("--heads block needs --block K (the block size)")
    args.parser = p
    return args


def main(argv: Optional[List[str]] = None) -> int:
    return main_with_torch(parse_args(argv), _main, argv)


def _main(args: argparse.Namespace, torch: Any, argv: List[str]) -> int:
    print(describe_threads(threads_in_use(torch)), flush=True)
    rows = time_cnn(args.heads, args.backends, args.steps, args.repeats, args.threads, settle=args.settle,
                    batch=args.batch, block=args.block, train_limit=args.train_limit)
    batch = rows[0]["batch"]
    meta = run_meta(argv, torch, numba_backend_workers=max((r["numba_backend_workers"] or 0 for r in rows),
                                                           default=0) or None,
                    timing=f"median of {args.repeats} blocks of {args.steps} training steps (batch {batch}) per "
                           f"implementation, all implementations interleaved one block at a time after an "
                           f"untimed block, a {args.settle} s pause before each block, extrapolated to "
                           f"{math.ceil(EPOCH_IMAGES / batch)} steps (an epoch of {EPOCH_IMAGES:,} images)")
    md = table(rows, args.repeats, args.steps)
    print(md)
    if args.out:
        write_report(args.out, "cnn_epoch_bench", "One MNIST training epoch of the CNN, minicirc and PyTorch",
                     "benchmarks.cnn_epoch", meta, md, rows)
        print(f"\nwrote {args.out}/cnn_epoch_bench.{{md,json}}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
