"""``minicirc reproduce``: the paper's comparison on MNIST, over several seeds.

Trains each model of ``EXPERIMENTS`` (the MLPs: dense, circulant, circulant without sign
flips, hybrid, block-circulant at several block sizes; with ``--models cnn``, the CNN with
each head) for every seed with its recipe, then writes a markdown table (fully-connected and
total parameters, both compressions against dense layers of the same widths, test error mean
and standard deviation over seeds, seconds per epoch) and a plot of test error against
parameter count. Every figure in the written file comes from this run; the file records the
command that produced it.

A run whose loss turns NaN or infinite is shown as diverged, and the sweep goes on; Ctrl-C
stops the sweep without touching the document (the finished runs' results stay in ``--out``).
``--reuse`` takes a finished run's results from ``--out`` instead of training it again when
they were made with the same settings (``RUN_SETTINGS`` and the backend): a stopped sweep
picks up where it stopped, and more seeds can be added to a finished one. The document says
how many runs were reused.
"""
from __future__ import annotations

import argparse
import json
import platform
import shlex
import statistics
import sys
import time
from pathlib import Path
from typing import Any, Dict, List, Optional

from .. import __version__
from ..backends import BACKENDS
from .settings import NONNEG_INT, POSITIVE_INT
from . import files
from .train import DIVERGED, TrainingStopped

#: name -> TrainConfig overrides. The recipes (minicirc/mnist/recipes.py) fill in the rest.
EXPERIMENTS: Dict[str, Dict[str, Any]] = {
    "dense": {"model": "dense"},
    "circulant": {"model": "circulant"},
    "circulant-no-D": {"model": "circulant", "sign_flip": False},
    "hybrid": {"model": "hybrid"},
    "block-256": {"model": "block", "block": 256},
    "block-64": {"model": "block", "block": 64},
    "block-16": {"model": "block", "block": 16},
    # The circulant MLP at lr 3e-3, decay 0.3, with and without D: the setting in which to test
    # whether runs without D stall at chance (docs/results/sign_flip.md). Not in the default set.
    "circulant-lr3e-3": {"model": "circulant", "lr": 3e-3, "weight_decay": 0.3},
    "circulant-no-D-lr3e-3": {"model": "circulant", "sign_flip": False, "lr": 3e-3, "weight_decay": 0.3},
    # LeNet's trunk with each fully-connected head 800 -> 500. Blocks of 100 split both 800 and
    # 500 whole (8 x 5 blocks), so no block is padded.
    "cnn-dense": {"model": "cnn", "head": "dense"},
    "cnn-circulant": {"model": "cnn", "head": "circulant"},
    "cnn-circulant-no-D": {"model": "cnn", "head": "circulant", "sign_flip": False},
    "cnn-block-100": {"model": "cnn", "head": "block", "block": 100},
}
#: What ``minicirc reproduce`` runs unless told otherwise: the paper's comparison of MLPs.
DEFAULT_MODELS = ["dense", "circulant", "circulant-no-D", "hybrid", "block-256", "block-64", "block-16"]
#: Names ``--models`` takes for several experiments at once.
GROUPS: Dict[str, List[str]] = {"mlp": DEFAULT_MODELS, "cnn": ["cnn-dense", "cnn-circulant",
                                                               "cnn-circulant-no-D", "cnn-block-100"]}
#: Where the table goes unless ``--doc`` says: the CNNs' own file, so that a CNN sweep never
#: replaces the MLPs' table.
DOCS = {"mlp": "docs/results/mnist.md", "cnn": "docs/results/mnist-cnn.md"}
#: A run "stalled" in an epoch whose training error stayed above this (chance is 0.9).
STALLED = 0.5


def finished_run(cfg: Any) -> Optional[Dict[str, Any]]:
    """The results in ``cfg.out`` of a finished run with ``cfg``'s settings, else None (no
    results.json, an unreadable one, or one made with other settings)."""
    from dataclasses import asdict

    from .config import RUN_SETTINGS

    try:
        res = json.loads((Path(cfg.out) / "results.json").read_text())
    except (OSError, ValueError):
        return None
    saved = res.get("config") if isinstance(res, dict) else None
    want = asdict(cfg.resolved())
    if not (isinstance(saved, dict) and all(saved.get(k) == want[k] for k in (*RUN_SETTINGS, "backend"))
            and isinstance(res.get("final"), dict) and isinstance(res.get("layers"), list)):
        return None
    return res


def run_all(names: List[str], seeds: List[int], out: Path, epochs: Optional[int], backend: str,
            train_limit: Optional[int], log: Any = print, reuse: bool = False) -> Dict[str, List[Dict[str, Any]]]:
    """Each model for each seed: its results dict, or ``{"seed", "diverged"}`` for a run whose
    loss went non-finite. Ctrl-C (``TrainingStopped`` with status 130) ends the sweep.
    ``reuse``: a finished run with the same settings in ``out`` is read, not trained (its
    results dict gains ``"reused": True``)."""
    from .train import TrainConfig, train      # here: the tests stand in for train

    runs: Dict[str, List[Dict[str, Any]]] = {}
    for name in names:
        for seed in seeds:
            cfg = TrainConfig(**EXPERIMENTS[name], seed=seed, epochs=epochs, backend=backend,
                              train_limit=train_limit, out=str(out / f"{name}-seed{seed}"))
            earlier = finished_run(cfg) if reuse else None
            if earlier is not None:
                log(f"== {name}, seed {seed}: reused {cfg.out}/results.json (same settings)")
                runs.setdefault(name, []).append({**earlier, "reused": True})
                continue
            log(f"== {name}, seed {seed}")
            try:
                res = train(cfg, log=log, progress=False)
            except TrainingStopped as e:
                if e.exit_code != DIVERGED:
                    raise
                log(f"   {name}, seed {seed}: {e}")
                res = {"seed": seed, "diverged": str(e)}
            runs.setdefault(name, []).append(res)
    return runs


def summarise(runs: Dict[str, List[Dict[str, Any]]]) -> List[Dict[str, Any]]:
    rows = []
    for name, entries in runs.items():
        results = [r for r in entries if "diverged" not in r]
        if not results:
            rows.append({"name": name, "seeds": len(entries), "test_errors": [],
                         "diverged_seeds": [r["seed"] for r in entries]})
            continue
        errs = [100 * r["final"]["test_error"] for r in results]
        first = results[0]
        fc_rows = [row for row in first["layers"] if row["fully_connected"]]
        fc = sum(row["params"] for row in fc_rows)
        total = sum(row["params"] for row in first["layers"])
        rows.append({
            "name": name, "fc_params": fc, "total_params": total,
            # against dense layers of the same widths: the fully-connected layers alone, and the
            # whole model (a CNN against its dense-head twin, whose convolutions are the same)
            "compression": sum(row["dense_equivalent"] for row in fc_rows) / fc,
            "total_compression": first["dense_equivalent_params"] / total, "seeds": len(entries),
            "epochs": len(first["epochs"]),
            "test_error_mean": statistics.mean(errs),
            "test_error_std": statistics.stdev(errs) if len(errs) > 1 else 0.0,
            "test_errors": errs,
            "diverged_seeds": [r["seed"] for r in entries if "diverged" in r],
            "seconds_per_epoch": statistics.median(r["final"]["seconds_per_epoch"] for r in results),
            # per run, the epochs whose training error stayed near chance
            "stalled_epochs": [sum(e["train_error"] > STALLED for e in r["epochs"]) for r in results],
            "recipe": {k: first["config"][k] for k in ("optimizer", "lr", "weight_decay", "dropout", "batch_size")},
            "reused": sum(bool(r.get("reused")) for r in results),
        })
    return rows


def write_markdown(rows: List[Dict[str, Any]], path: Path, command: str, plot: Optional[Path],
                   seconds: float) -> None:
    lines = [
        "# MNIST: dense, circulant and block-circulant layers",
        "",
        f"Produced by `{command}` (minicirc {__version__}, Python {platform.python_version()}, "
        f"{platform.machine()}, {time.strftime('%Y-%m-%d')}; {seconds / 60:.0f} minutes in all). "
        "Test error over the 10,000 MNIST test images after the last epoch, mean and sample "
        "standard deviation over seeds; 'FC params' counts every trainable weight and bias of the "
        "fully-connected layers, 'total params' those of every layer (a CNN's convolutions too); "
        "'FC compression' is against dense layers of the same widths, 'total compression' against the "
        "same model with them (for a CNN, the dense-head CNN). Recipes: minicirc/mnist/recipes.py, "
        "chosen on a validation split (docs/results/tuning.md).",
        "",
        f"'stalled' counts the runs with an epoch whose training error stayed above {STALLED:.0%} "
        "(chance is 90%), and in brackets those epochs over all runs. A run whose loss became NaN "
        "or infinite is listed as diverged and left out of the mean.",
        "",
        "| model | FC params | total params | FC compression | total compression | test error (%) | per seed "
        "| stalled | s/epoch | optimizer, lr, wd, dropout |",
        "| --- | ---: | ---: | ---: | ---: | --- | --- | ---: | ---: | --- |",
    ]
    for r in rows:
        diverged = [f"seed {s} diverged" for s in r["diverged_seeds"]]
        if not r["test_errors"]:
            lines.append(f"| {r['name']} | - | - | - | - | - | {', '.join(diverged)} | - | - | - |")
            continue
        rec = r["recipe"]
        stalled = r["stalled_epochs"]
        lines.append(f"| {r['name']} | {r['fc_params']:,} | {r['total_params']:,} | {r['compression']:.1f}x | "
                     f"{r['total_compression']:.1f}x | "
                     f"{r['test_error_mean']:.2f} +- {r['test_error_std']:.2f} | "
                     f"{', '.join([f'{e:.2f}' for e in r['test_errors']] + diverged)} | "
                     f"{sum(k > 0 for k in stalled)} of {len(stalled)} ({sum(stalled)}) | {r['seconds_per_epoch']:.1f} | "
                     f"{rec['optimizer']}, {rec['lr']:g}, {rec['weight_decay']:g}, {rec['dropout']:g} |")
    reused = sum(r.get("reused", 0) for r in rows)
    if reused:
        lines += ["", f"{reused} of the {sum(len(r['test_errors']) for r in rows)} runs were reused (`--reuse`): "
                  "their results come from an earlier sweep into the same folder with the same settings, "
                  "and their minutes are not in the total above."]
    if plot is not None:
        lines += ["", f"![test error against parameter count]({plot.name})"]
    path.parent.mkdir(parents=True, exist_ok=True)
    files.write_text(path, "\n".join(lines) + "\n", "document")


def plot_tradeoff(rows: List[Dict[str, Any]], path: Path) -> Path:
    from .plots import figure, save

    fig = figure(figsize=(7, 4.5))
    ax = fig.subplots()
    for r in [r for r in rows if r["test_errors"]]:
        ax.errorbar(r["fc_params"], r["test_error_mean"], yerr=r["test_error_std"], marker="o", capsize=3)
        ax.annotate(r["name"], (r["fc_params"], r["test_error_mean"]), textcoords="offset points",
                    xytext=(5, 5), fontsize=8)
    ax.set_xscale("log")
    ax.set_xlabel("trainable fully-connected parameters")
    ax.set_ylabel("test error (%)")
    ax.grid(alpha=0.3, which="both")
    ax.set_title("MNIST: test error against parameter count")
    fig.tight_layout()
    return save(fig, path)


def _grouped(name: str) -> bool:
    return any(name in members for members in GROUPS.values())


def expand(names: List[str]) -> List[str]:
    """``names`` with each group replaced by its experiments, each experiment once, in order."""
    out: List[str] = []
    for name in names:
        out += [n for n in GROUPS.get(name, [name]) if n not in out]
    return out


def main(argv: Optional[List[str]] = None, prog: str = "minicirc reproduce") -> int:
    p = argparse.ArgumentParser(prog=prog, description=__doc__.split("\n\n")[0])
    groups = "; ".join(f"{g} = {' '.join(members)}" for g, members in GROUPS.items())
    others = " ".join(n for n in EXPERIMENTS if not _grouped(n))
    p.add_argument("--models", nargs="+", choices=[*GROUPS, *EXPERIMENTS], default=["mlp"], metavar="MODEL",
                   help=f"experiments, or groups of them: {groups} (default: mlp); not in a group: {others}")
    p.add_argument("--seeds", nargs="+", type=NONNEG_INT.parse, default=[0, 1, 2],
                   help="one run of each model per seed (default: 0 1 2; the sign-flip ablation: 0 1 2 3 4)")
    p.add_argument("--epochs", type=POSITIVE_INT.parse, default=None, help="default: each recipe's")
    p.add_argument("--backend", choices=BACKENDS, default="numpy")
    p.add_argument("--train-limit", type=POSITIVE_INT.parse, default=None,
                   help="first N training images (smoke tests)")
    p.add_argument("--out", default="runs/reproduce", help="where each run writes its checkpoint and results")
    p.add_argument("--reuse", action="store_true",
                   help="read a finished run's results from --out instead of training it again, when its "
                        "settings are this run's (to finish a stopped sweep, or add seeds to one)")
    p.add_argument("--doc", default=None, help=f"the markdown file to write (default: {DOCS['cnn']} when "
                   f"every model is a CNN, else {DOCS['mlp']})")
    args = p.parse_args(argv)
    args.models = expand(args.models)
    if args.doc is None:
        cnn_only = all(EXPERIMENTS[n].get("model") == "cnn" for n in args.models)
        args.doc = DOCS["cnn" if cnn_only else "mlp"]
    for folder in (Path(args.out), Path(args.doc).parent):   # what a killed sweep left half-written
        files.remove_stale_temporaries(folder)
    command = "minicirc reproduce " + " ".join(shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:]))
    start = time.time()
    try:
        runs = run_all(args.models, args.seeds, Path(args.out), args.epochs, args.backend, args.train_limit,
                       reuse=args.reuse)
    except (TrainingStopped, KeyboardInterrupt) as e:   # Ctrl-C: the document keeps its last full sweep
        # In a run the trainer turns Ctrl-C into TrainingStopped (130) after its checkpoint;
        # between runs (a model being built, data loading) it arrives as KeyboardInterrupt.
        what = e if isinstance(e, TrainingStopped) else "interrupted between runs"
        print(f"minicirc reproduce: {what}; the sweep stopped and {args.doc} was not written "
              f"(finished runs are in {args.out})", file=sys.stderr)
        return e.exit_code if isinstance(e, TrainingStopped) else 130
    rows = summarise(runs)
    doc = Path(args.doc)
    doc.parent.mkdir(parents=True, exist_ok=True)
    plot = plot_tradeoff(rows, doc.with_suffix(".png"))
    write_markdown(rows, doc, command.strip(), plot, time.time() - start)
    Path(args.out).mkdir(parents=True, exist_ok=True)     # made by the runs, unless none reached the trainer
    files.write_text(Path(args.out) / "summary.json", json.dumps(rows, indent=2), "summary")
    print(doc.read_text())
    return 0
