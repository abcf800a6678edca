"""One MNIST training epoch, minicirc against the same model in PyTorch, in the same run.

    python -m minicirc.bench.epoch [--models circulant dense] [--backends numpy numba]
                                   [--repeats 3] [--threads 2]

Each repeat times one full epoch (60,000 images, batch 128, forward, loss, backward,
optimizer step; no evaluation) of each implementation in turn (interleaved), and the
table reports the median. ``--full`` instead trains every implementation to the end of its
recipe for each ``--seeds`` and reports test errors: the accuracy comparison of
docs/results/mnist.md.
"""
from __future__ import annotations

import argparse
import json
import math
import statistics
import time
from pathlib import Path
from typing import Any, Dict, List, Optional

import numpy as np


def _torch_epoch(model: Any, opt: Any, X: np.ndarray, y: np.ndarray, batch: int, seed: int,
                 lr: float, step0: int, total: int, schedule: bool = True) -> float:
    import torch

    from ..optim import cosine_lr

    loss_fn = torch.nn.CrossEntropyLoss()
    perm = np.random.default_rng(seed).permutation(len(X))
    Xt, yt = torch.from_numpy(X), torch.from_numpy(y)
    start = time.perf_counter()
    for k, i in enumerate(range(0, len(X), batch)):
        idx = torch.from_numpy(perm[i:i + batch])
        if schedule:
            for g in opt.param_groups:
                g["lr"] = cosine_lr(lr, step0 + k, total)
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(model(Xt[idx]), yt[idx])
        loss.backward()
        opt.step()
    return time.perf_counter() - start


def time_epochs(models: List[str], backends: List[str], repeats: int, threads: int,
                train_limit: Optional[int]) -> List[Dict[str, Any]]:
    import torch

    from ..datasets import load_mnist
    from ..train import TrainConfig, Trainer
    from .torch_models import build_torch_mlp, torch_optimizer

    torch.set_num_threads(threads)
    data = load_mnist()
    X, y = data.train
    if train_limit:
        X, y = X[:train_limit], y[:train_limit]
    rows = []
    for kind in models:
        impls: Dict[str, Any] = {}
        for bk in backends:
            tr = Trainer(TrainConfig(model=kind, backend=bk, epochs=10_000, train_limit=train_limit, plot=False,
                                     out="/tmp/minicirc-bench-epoch"), log=lambda s: None, progress=False)
            impls[f"minicirc-{bk}"] = tr
        cfg = next(iter(impls.values())).config
        tmodel = build_torch_mlp(next(iter(impls.values())).arch, seed=0)
        topt = torch_optimizer(tmodel, cfg)
        times: Dict[str, List[float]] = {k: [] for k in [*impls, "pytorch"]}
        steps = math.ceil(len(X) / cfg.batch_size)
        for rep in range(repeats + 1):                   # repeat 0 is the warm-up (JIT, caches)
            for name, tr in impls.items():
                t = _time_minicirc(tr)
                if rep:
                    times[name].append(t)
            t = _torch_epoch(tmodel, topt, X, y, cfg.batch_size, rep, cfg.lr, rep * steps, (repeats + 1) * steps)
            if rep:
                times["pytorch"].append(t)
        med = {k: statistics.median(v) for k, v in times.items()}
        for name in times:
            rows.append({"model": kind, "impl": name, "median_s": med[name], "runs": times[name],
                         "ratio_vs_pytorch": med[name] / med["pytorch"]})
    return rows


def _time_minicirc(trainer: Any) -> float:
    """One training epoch of a Trainer, evaluation excluded."""
    start = time.perf_counter()
    trainer.test_set = (trainer.test_set[0][:1], trainer.test_set[1][:1])   # evaluation is not timed here
    rec = trainer._train_epoch()
    trainer.epoch += 1
    return rec["seconds"] if rec else time.perf_counter() - start


def torch_accuracy(kinds: List[str], seeds: List[int], threads: int, epochs: Optional[int]) -> List[Dict[str, Any]]:
    """Train the PyTorch twin of each model with minicirc's recipe; test error per seed."""
    import torch

    from ..datasets import load_mnist
    from ..models import architecture
    from ..train import TrainConfig
    from .torch_models import build_torch_mlp, torch_error, torch_optimizer

    torch.set_num_threads(threads)
    data = load_mnist()
    (X, y), (Xte, yte) = data.train, data.test
    rows = []
    for kind in kinds:
        cfg = TrainConfig(model=kind, epochs=epochs).resolved()
        arch = architecture(kind, hidden=cfg.hidden, layers=cfg.layers, sign_flip=cfg.sign_flip, dropout=cfg.dropout)
        errors = []
        for seed in seeds:
            torch.manual_seed(seed)                      # dropout masks
            model = build_torch_mlp(arch, seed=seed)
            opt = torch_optimizer(model, cfg)
            steps = math.ceil(len(X) / cfg.batch_size)
            for e in range(cfg.epochs):
                _torch_epoch(model, opt, X, y, cfg.batch_size, 1000 * seed + e, cfg.lr, e * steps, cfg.epochs * steps)
            errors.append(100 * torch_error(model, Xte, yte))
            print(f"pytorch {kind} seed {seed}: test error {errors[-1]:.2f}%", flush=True)
        rows.append({"model": kind, "seeds": seeds, "test_errors": errors, "mean": statistics.mean(errors),
                     "std": statistics.stdev(errors) if len(errors) > 1 else 0.0})
    return rows


def main(argv: Optional[List[str]] = None) -> int:
    p = argparse.ArgumentParser(prog="python -m minicirc.bench.epoch", description=__doc__.split("\n\n")[0])
    p.add_argument("--models", nargs="+", default=["circulant", "dense"])
    p.add_argument("--backends", nargs="+", default=["numpy", "numba"])
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", type=int, default=2, help="torch.set_num_threads (match the machine's cores)")
    p.add_argument("--train-limit", type=int, default=None)
    p.add_argument("--out", default=None, help="write the table as JSON here")
    p.add_argument("--full", action="store_true", help="train the PyTorch twins to the end of the recipe "
                   "and report test errors per seed instead of timing")
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    p.add_argument("--epochs", type=int, default=None, help="with --full: default the recipe's")
    args = p.parse_args(argv)
    if args.full:
        rows = torch_accuracy(args.models, args.seeds, args.threads, args.epochs)
        print("| model (PyTorch twin) | test error (%) mean +- std | per seed |")
        print("| --- | --- | --- |")
        for r in rows:
            print(f"| {r['model']} | {r['mean']:.2f} +- {r['std']:.2f} | {', '.join(f'{e:.2f}' for e in r['test_errors'])} |")
        if args.out:
            Path(args.out).write_text(json.dumps(rows, indent=2))
        return 0
    rows = time_epochs(args.models, args.backends, args.repeats, args.threads, args.train_limit)
    print(f"| model | implementation | epoch (s, median of {args.repeats}) | ratio to PyTorch |")
    print("| --- | --- | ---: | ---: |")
    for r in rows:
        print(f"| {r['model']} | {r['impl']} | {r['median_s']:.2f} | {r['ratio_vs_pytorch']:.2f} |")
    if args.out:
        Path(args.out).write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
