"""MNIST test error of the CNN's PyTorch twins, trained with minicirc's recipe over given seeds:
the reference column beside ``minicirc reproduce``'s CNN rows.

    python -m benchmarks.cnn_twins [--heads circulant dense] [--block K] [--seeds 0 1 2]
                                   [--epochs N] [--threads 2] [--out DIR]

For each head and seed, the twin of ``build_cnn(head)`` (``benchmarks.torch_models.
build_torch_cnn``: the same trunk, head and initial distributions) trains on MNIST's 60,000
training images with ``RECIPES["cnn"]`` (AdamW, its learning rate, decay, dropout and epochs;
batch 128) at the learning rate of minicirc's schedule at every step (cosine decay to 0 over
the run, no warm-up, as ``minicirc train``), then is scored on the 10,000 test images. Seed
``s`` draws the twin's weights and dropout masks from PyTorch's generators and the batches'
order from NumPy's, seeded with ``s``: the same distributions as minicirc's run of seed ``s``,
not the same numbers, so the two are compared through their seed spreads. The table gives the
test error per seed, the mean and the sample standard deviation; ``--out`` writes
``DIR/cnn_twins.{md,json}``.
"""
from __future__ import annotations

import argparse
import statistics
import time
from typing import Any, Dict, List, Optional

from . import write_report
from .args import nonneg_int, positive_int
from .cnn_epoch import HEADS
from .epoch import _names
from .timing import main_with_torch, describe_threads, run_meta, threads_in_use


def train_twins(heads: List[str], seeds: List[int], *, epochs: Optional[int] = None, block: Optional[int] = None,
                train_limit: Optional[int] = None, test_limit: Optional[int] = None,
                log: Any = print) -> List[Dict[str, Any]]:
    """One row per head: the test error (%) of its twin for each seed, their mean and sample
    standard deviation (0 for one seed)."""
    from minicirc.mnist import load_mnist

    from .cnn_runs import TorchCNN, cnn_recipe

    recipe = cnn_recipe(epochs=epochs)
    data = load_mnist()
    (X, y), (Xte, yte) = data.train, data.test
    if train_limit:
        X, y = X[:train_limit], y[:train_limit]
    if test_limit:
        Xte, yte = Xte[:test_limit], yte[:test_limit]
    rows = []
    for head in heads:
        errors, seconds = [], []
        for seed in seeds:
            start = time.perf_counter()
            run = TorchCNN(head, X, y, recipe, seed=seed, block=block)
            run.steps(run.total_steps)                   # epochs x batches, the schedule's end
            errors.append(100 * run.error(Xte, yte))
            seconds.append(time.perf_counter() - start)
            log(f"pytorch cnn {head} seed {seed}: test error {errors[-1]:.2f}% after {recipe.epochs} epochs "
                f"({run.step} steps, {seconds[-1]:.0f} s)")
        rows.append({"head": head, "block": block if head == "block" else None, "seeds": list(seeds),
                     "test_errors": errors, "mean": statistics.mean(errors),
                     "std": statistics.stdev(errors) if len(errors) > 1 else 0.0,
                     "epochs": recipe.epochs, "train_images": len(X), "test_images": len(Xte),
                     "seconds": seconds})
    return rows


def table(rows: List[Dict[str, Any]]) -> str:
    lines = ["| CNN head (PyTorch twin) | test error (%) mean +- sample std | per seed | seeds |",
             "| --- | --- | --- | --- |"]
    for r in rows:
        head = f"block (k={r['block']})" if r["block"] else r["head"]
        lines.append(f"| {head} | {r['mean']:.2f} +- {r['std']:.2f} | "
                     f"{', '.join(f'{e:.2f}' for e in r['test_errors'])} | {', '.join(map(str, r['seeds']))} |")
    return "\n".join(lines)


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m benchmarks.cnn_twins", description=__doc__.split("\n\n")[0])
    p.add_argument("--heads", nargs="+", action=_names(HEADS, "head"), default=["circulant", "dense"],
                   metavar="{" + ",".join(HEADS) + "}", help="the CNN's fully-connected heads "
                   "(default circulant dense; block needs --block)")
    p.add_argument("--block", type=positive_int, default=None, help="block size of the block head")
    p.add_argument("--seeds", nargs="+", type=nonneg_int, default=[0, 1, 2])
    p.add_argument("--epochs", type=positive_int, default=None, help="default the recipe's")
    p.add_argument("--threads", type=positive_int, default=None,
                   help="PyTorch's threads (default: Numba's, the number of cores)")
    p.add_argument("--train-limit", type=positive_int, default=None, help="train on the first N images only")
    p.add_argument("--test-limit", type=positive_int, default=None, help="score the first N test images only")
    p.add_argument("--out", default=None, help="directory for cnn_twins.{md,json}")
    args = p.parse_args(argv)
    if "block" in args.heads and args.block is None:
        p.error("--heads block needs --block K (the block size)")
    args.parser = p
    return args


def main(argv: Optional[List[str]] = None) -> int:
    return main_with_torch(parse_args(argv), _main, argv)


def _main(args: argparse.Namespace, torch: Any, argv: List[str]) -> int:
    from .cnn_runs import cnn_recipe

    print(describe_threads(threads_in_use(torch)), flush=True)
    rows = train_twins(args.heads, args.seeds, epochs=args.epochs, block=args.block,
                       train_limit=args.train_limit, test_limit=args.test_limit)
    md = table(rows)
    print(md)
    if args.out:
        write_report(args.out, "cnn_twins", "MNIST test error of the CNN's PyTorch twins, minicirc's recipe",
                     "benchmarks.cnn_twins", run_meta(argv, torch, recipe=vars(cnn_recipe(epochs=args.epochs))),
                     md, rows)
        print(f"\nwrote {args.out}/cnn_twins.{{md,json}}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
