"""One MNIST training epoch, minicirc against the same model in PyTorch, in the same run.

    python -m benchmarks.epoch [--models circulant dense] [--backends numpy numba]
                               [--repeats 3] [--threads 2] [--out DIR]

Each repeat times one full epoch (60,000 images, batch 128, forward, loss, backward,
optimizer step; no evaluation) of each implementation in turn (interleaved), and the
table reports the median; ``--out`` writes it as ``DIR/epoch_bench.{md,json}`` with the
command, versions and threads. ``--full`` instead trains the PyTorch twin of each model to
the end of minicirc's recipe for each ``--seeds`` and reports test errors
(``DIR/pytorch_accuracy.{md,json}``): the PyTorch column of docs/results/README.md, stored in
docs/results/pytorch_accuracy.json (``--out docs/results``).

``--threads`` sets the threads of PyTorch, of Numba and of minicirc's numba backend (its
transform workers). NumPy's BLAS, which the dense layers use, reads its thread count from
``OPENBLAS_NUM_THREADS`` / ``MKL_NUM_THREADS`` / ``OMP_NUM_THREADS`` when NumPy loads, so only
those variables, set before Python starts, pin it (``benchmarks/cpu_all.sh`` does). The
threads in use are printed once and recorded in the report.
"""
from __future__ import annotations

import argparse
import math
import statistics
import time
from typing import Any, Dict, List, Optional

import numpy as np

from . import write_report
from .layer import CPU_BACKENDS, distinct
from .timing import main_with_torch, describe_threads, run_meta, threads_in_use
from .args import nonneg_int, positive_int

#: The model kinds that have a PyTorch twin in benchmarks.torch_models (not "block").
TWINS = ("circulant", "dense", "hybrid")


def _torch_epoch(model: Any, opt: Any, X: np.ndarray, y: np.ndarray, batch: int, seed: int,
                 lr: float, step0: int, total: int, schedule: bool = True) -> float:
    import torch

    from minicirc.optim import cosine_lr

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
    """Median seconds per training epoch of each model on each backend and in PyTorch, all on
    ``threads`` threads (pinned by the caller: ``main`` uses ``timing.pinned_threads``); one row
    per (model, implementation)."""
    from minicirc.mnist import load_mnist
    from minicirc.mnist.config import TrainConfig

    from .torch_models import build_torch_mlp, torch_optimizer
    from .training import TrainingRun

    # main() pinned the threads before this builds the runs: their numba backends take that count
    data = load_mnist()
    X, y = data.train
    if train_limit:
        X, y = X[:train_limit], y[:train_limit]
    rows = []
    for kind in models:
        impls: Dict[str, Any] = {}
        workers: Dict[str, Optional[int]] = {"pytorch": None}
        for bk in backends:
            run = TrainingRun(TrainConfig(model=kind, backend=bk, epochs=10_000, train_limit=train_limit),
                              data=data)
            workers[f"minicirc-{bk}"] = _numba_workers(run, threads)
            impls[f"minicirc-{bk}"] = run
        cfg = next(iter(impls.values())).config
        tmodel = build_torch_mlp(next(iter(impls.values())).arch, seed=0)
        topt = torch_optimizer(tmodel, cfg)
        times: Dict[str, List[float]] = {k: [] for k in [*impls, "pytorch"]}
        steps = math.ceil(len(X) / cfg.batch_size)
        for rep in range(repeats + 1):                   # repeat 0 is the warm-up (JIT, caches)
            for name, run in impls.items():
                t = run.epoch()
                if rep:
                    times[name].append(t)
            t = _torch_epoch(tmodel, topt, X, y, cfg.batch_size, rep, cfg.lr, rep * steps, (repeats + 1) * steps)
            if rep:
                times["pytorch"].append(t)
        med = {k: statistics.median(v) for k, v in times.items()}
        for name in times:
            rows.append({"model": kind, "impl": name, "median_s": med[name], "runs": times[name],
                         "ratio_vs_pytorch": med[name] / med["pytorch"], "numba_backend_workers": workers[name]})
    return rows


def _numba_workers(run: Any, threads: int) -> Optional[int]:
    """The workers of the run's numba backend (None for another backend). A NumbaBackend
    takes Numba's thread count when it is built (``workers=None``), so pinning the threads
    before the run is built pins these; this checks the run's and every layer's."""
    from minicirc.backends.numba_backend import NumbaBackend

    found = {b.workers for b in [run.backend] + [layer.backend for layer in run.model.layers]
             if isinstance(b, NumbaBackend)}
    if found - {threads}:
        raise RuntimeError(f"minicirc's numba backend runs on {sorted(found)} workers, not the {threads} "
                           f"threads asked")
    return threads if found else None


def torch_accuracy(kinds: List[str], seeds: List[int], threads: int, epochs: Optional[int]) -> List[Dict[str, Any]]:
    """Train the PyTorch twin of each model with minicirc's recipe; test error per seed, on the
    ``threads`` threads the caller pinned (``main``: ``timing.pinned_threads``)."""
    import torch

    if torch.get_num_threads() != threads:
        raise RuntimeError(f"PyTorch runs on {torch.get_num_threads()} threads, not the {threads} asked; "
                           "pin them first (timing.pinned_threads)")

    from minicirc.mnist import load_mnist
    from minicirc.mnist.models import architecture
    from minicirc.mnist.config import TrainConfig
    from .torch_models import build_torch_mlp, torch_error, torch_optimizer

    data = load_mnist()                     # on the threads main() pinned
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


def _names(allowed: tuple, what: str) -> Any:
    """An argparse action for ``nargs="+"`` lists: each in ``allowed``, none twice."""
    class Names(argparse.Action):
        def __call__(self, parser: Any, namespace: Any, values: Any, option_string: Any = None) -> None:
            try:
                setattr(namespace, self.dest, distinct(values, what, allowed))
            except argparse.ArgumentTypeError as e:
                parser.error(f"{option_string}: {e}")
    return Names


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m benchmarks.epoch", description=__doc__.split("\n\n")[0])
    p.add_argument("--models", nargs="+", action=_names(TWINS, "model"), default=["circulant", "dense"],
                   metavar="{" + ",".join(TWINS) + "}",
                   help="models with a PyTorch twin (default circulant dense)")
    p.add_argument("--backends", nargs="+", action=_names(CPU_BACKENDS, "backend"), default=["numpy", "numba"],
                   metavar="{" + ",".join(CPU_BACKENDS) + "}", help="minicirc backends (default numpy numba)")
    p.add_argument("--repeats", type=positive_int, default=3, help="timed epochs per implementation (default 3)")
    p.add_argument("--threads", type=positive_int, default=None,
                   help="threads for PyTorch, Numba and minicirc's numba backend (default: Numba's, the "
                        "number of cores); NumPy's BLAS only through OPENBLAS_NUM_THREADS and the like")
    p.add_argument("--train-limit", type=positive_int, default=None, help="train on the first N images only")
    p.add_argument("--out", default=None,
                   help="directory for epoch_bench.{md,json} (with --full: pytorch_accuracy.{md,json})")
    p.add_argument("--full", action="store_true", help="train the PyTorch twins to the end of the recipe "
                   "and report test errors per seed instead of timing")
    p.add_argument("--seeds", nargs="+", type=nonneg_int, default=[0, 1, 2])
    p.add_argument("--epochs", type=positive_int, default=None, help="with --full: default the recipe's")
    args = p.parse_args(argv)
    args.parser = p
    return args


def main(argv: Optional[List[str]] = None) -> int:
    return main_with_torch(parse_args(argv), _main, argv)


def _main(args: argparse.Namespace, torch: Any, argv: List[str]) -> int:
    print(describe_threads(threads_in_use(torch)), flush=True)
    if args.full:
        rows = torch_accuracy(args.models, args.seeds, args.threads, args.epochs)
        lines = ["| model (PyTorch twin) | test error (%) mean +- std | per seed |", "| --- | --- | --- |"]
        lines += [f"| {r['model']} | {r['mean']:.2f} +- {r['std']:.2f} | "
                  f"{', '.join(f'{e:.2f}' for e in r['test_errors'])} |" for r in rows]
        md = "\n".join(lines)
        print(md)
        if args.out:
            write_report(args.out, "pytorch_accuracy", "MNIST test error of the PyTorch twins, minicirc's recipes",
                         "benchmarks.epoch", run_meta(argv, torch), md, rows)
        return 0
    rows = time_epochs(args.models, args.backends, args.repeats, args.threads, args.train_limit)
    meta = run_meta(argv, torch, numba_backend_workers=max((r["numba_backend_workers"] or 0 for r in rows),
                                                           default=0) or None,
                    timing=f"median of {args.repeats} epochs per implementation after a warm-up one, "
                           f"interleaved")
    lines = [f"| model | implementation | epoch (s, median of {args.repeats}) | ratio to PyTorch |",
             "| --- | --- | ---: | ---: |"]
    lines += [f"| {r['model']} | {r['impl']} | {r['median_s']:.2f} | {r['ratio_vs_pytorch']:.2f} |" for r in rows]
    md = "\n".join(lines)
    print(md)
    if args.out:
        write_report(args.out, "epoch_bench", "One MNIST training epoch, minicirc and PyTorch",
                     "benchmarks.epoch", meta, md, rows)
        print(f"\nwrote {args.out}/epoch_bench.{{md,json}}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
