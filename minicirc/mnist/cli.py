"""The ``minicirc`` command: train, evaluate, info, reproduce.

Bad option values, and options that conflict, give a one-line error and exit status 2; a
bad data file or checkpoint, or a file that cannot be written, a one-line error naming the
file and exit status 1; Ctrl-C during training saves a checkpoint and exits with 130, and
anywhere else (a second Ctrl-C included) exits with 130 and one line; a non-finite loss exits
with 3.
"""
from __future__ import annotations

import argparse
import os
import sys
from dataclasses import fields
from typing import Any, List, Optional

from .. import __version__
from .config import FROM_RECIPE, TrainConfig
from .settings import FLAG, FRACTION, NONNEG, NONNEG_INT, POSITIVE, POSITIVE_INT


# The rules' parsers under the names the other commands' options use.
_positive_int, _nonneg_int = POSITIVE_INT.parse, NONNEG_INT.parse
_positive_float, _nonneg_float, _unit_float = POSITIVE.parse, NONNEG.parse, FRACTION.parse


def _add_train(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="train an MLP or a CNN on MNIST",
                       description="Train an MLP or a CNN on MNIST. With no options: the circulant MLP "
                                   "(input zero-padded to 1024, two circulant layers with sign flips, dense "
                                   "output) with its recipe, then print its test error. --model cnn: "
                                   "LeNet's convolutions (800 features), then a --head of width --hidden "
                                   "(500), then a dense output layer. Options left unset take the chosen "
                                   "model's recipe (minicirc/mnist/recipes.py).")
    groups = {name: p.add_argument_group(name) for name in ("model", "optimisation", "run")}
    for f in fields(TrainConfig):
        _add_setting(groups[f.metadata["group"]], f)
    r = groups["run"]
    r.add_argument("--resume", metavar="CHECKPOINT", default=None,
                   help="continue the run that wrote CHECKPOINT, with its settings, in its folder "
                        "unless --out names another (options given here may change only where and "
                        "how it runs: --backend, --out, --data (the same images), --no-verify, "
                        "--save-every, --no-plot; with --schedule constant, also more --epochs)")
    r.add_argument("--progress", dest="progress", action="store_true", default=None,
                   help="force the progress bar (default: only on a terminal)")
    r.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bar")
    p.set_defaults(func=_cmd_train)


def _add_setting(group: Any, f: Any) -> None:
    """The option of ``TrainConfig`` field ``f``: ``--name-with-dashes``, checked by its rule."""
    rule, help, option = f.metadata["rule"], f.metadata["help"], "--" + f.name.replace("_", "-")
    if rule is FLAG and f.default is True:         # on unless turned off
        group.add_argument("--no-" + option[2:], dest=f.name, action="store_false", help=help)
        return
    if rule is FLAG:                               # None: the recipe's, unless given either way
        group.add_argument(option, action="store_true", default=None, help=help)
        group.add_argument("--no-" + option[2:], dest=f.name, action="store_false", help=f.metadata["no_help"])
        return
    if f.name in FROM_RECIPE:
        help += " (default: the model's recipe)"
    elif f.default is not None:
        help += f" (default {f.default})"
    kind = {"choices": rule.options} if hasattr(rule, "options") else {"type": getattr(rule, "parse", str)}
    group.add_argument(option, default=f.default, help=help, **kind)


#: Stands for "not on the command line" while the train options are parsed a second time.
_UNSET = object()


def _given(args: argparse.Namespace) -> dict:
    """The train options the command line gave, by their ``TrainConfig`` names.

    Parsed again into a namespace preset with ``_UNSET``: argparse fills in a default only
    where the namespace has no value yet, so whatever is still ``_UNSET`` was not given.
    """
    keys = set(TrainConfig.__dataclass_fields__)
    ns = argparse.Namespace(**{a.dest: _UNSET for a in args.parser._actions if a.dest in keys})
    args.parser.parse_args(args.argv, namespace=ns)
    return {k: v for k, v in vars(ns).items() if k in keys and v is not _UNSET}


def _cmd_train(args: argparse.Namespace) -> int:
    from .train import train

    given = _given(args)
    if args.resume:
        config = TrainConfig.from_checkpoint(args.resume, **given)
    else:
        config = TrainConfig(**given)
    _refuse_what_the_model_has_not(args, config, given)
    if config.resolved().optimizer in ("adam", "adamw"):
        sgd_only = [f"--{k}" for k in ("momentum",) if k in given]
        if "nesterov" in given:
            sgd_only.append("--nesterov" if given["nesterov"] else "--no-nesterov")
        if sgd_only:
            used = config.resolved().optimizer
            source = (f"--optimizer {used}" if "optimizer" in given else "the checkpoint's optimizer"
                      if args.resume else f"the {config.model} recipe's optimizer")
            args.parser.error(f"{' and '.join(sgd_only)} {'applies' if len(sgd_only) == 1 else 'apply'} "
                              f"to SGD only, and this run uses {used} ({source})"
                              + ("" if "optimizer" in given or args.resume else "; add --optimizer sgd"))
    train(config, resume=args.resume, progress=args.progress)
    return 0


def _refuse_what_the_model_has_not(args: argparse.Namespace, config: TrainConfig, given: dict) -> None:
    """Model options for another model (``--head`` for an MLP, ``--layers`` for the CNN, a
    ``--block`` nothing uses) and a block-circulant layer without its block size: usage errors."""
    if config.model != "cnn" and config.head is not None:
        args.parser.error(f"--head applies to --model cnn only (this run: --model {config.model})")
    if config.model == "cnn" and "layers" in given:
        args.parser.error("--layers applies to the MLPs only: --model cnn has one fully-connected hidden "
                          "layer, its --head (its width: --hidden)")
    from .models import MODEL_DEFAULTS

    head = config.head or MODEL_DEFAULTS[config.model]["head"]
    needs_block = "--model block" if config.model == "block" else "--head block" if head == "block" else None
    if needs_block and config.block is None:
        args.parser.error(f"{needs_block} needs --block SIZE")
    if config.block is not None and not needs_block:
        args.parser.error("--block applies to --model block and --model cnn --head block only")


def _add_evaluate(sub: argparse._SubParsersAction) -> None:
    from ..backends import BACKENDS

    p = sub.add_parser("evaluate", help="test error and confusion matrix of a checkpoint")
    p.add_argument("checkpoint")
    p.add_argument("--data", default=None, help="directory of MNIST IDX files (default: bundled)")
    p.add_argument("--backend", choices=BACKENDS, default=None,
                   help="backend to run on (default: the checkpoint's)")
    p.add_argument("--no-verify", dest="verify", action="store_false", help="skip the MNIST checksums")
    p.set_defaults(func=_cmd_evaluate)


def _load_model(path: str, backend: Optional[str] = None):  # type: ignore[no-untyped-def]
    from .checkpoint import load_into
    from .models import build_model
    from .schema import read_training_checkpoint

    meta, arrays = read_training_checkpoint(path)      # every field checked: trusted from here
    config, arch = meta["config"], meta["arch"]
    trained_on = config["backend"]
    try:
        model = build_model(arch, dtype=config["dtype"], backend=backend or trained_on)
    except RuntimeError as e:                     # a GPU checkpoint on a machine without one
        if backend is None and trained_on != "numpy":
            raise RuntimeError(f"{e}. {path} was trained on {trained_on}: add --backend numpy to "
                               "run it on the CPU") from e
        raise
    load_into(model, arrays, path)
    return meta, model


def _cmd_evaluate(args: argparse.Namespace) -> int:
    import numpy as np

    from .activity import dead_units
    from .dataset import load_mnist
    from .models import describe
    from .train import as_input, epochs_text, evaluate

    meta, model = _load_model(args.checkpoint, args.backend)
    X, y = load_mnist(args.data, verify=None if args.verify else False).test
    bk = model.layers[0].backend
    result = evaluate(model, bk.asarray(as_input(X, meta["arch"])), bk.asarray(y))
    pred = bk.to_numpy(result["pred"])
    confusion = np.zeros((10, 10), dtype=np.int64)
    np.add.at(confusion, (y, pred), 1)
    print(f"{args.checkpoint}: {describe(meta['arch'])} after {epochs_text(meta['epoch'])}")
    print(f"test error {100 * result['error']:.2f}% ({result['wrong']} of {len(y)} wrong)")
    print("ReLU units that no test image makes positive (dead: no gradient passes them)")
    for row in dead_units(model, bk.asarray(as_input(X, meta["arch"]))):
        whole = "  <- the whole layer: the output ignores the input" if row["dead"] == row["units"] else ""
        print(f"  layer {row['index']} (after {row['after']}): {row['dead']:,} of {row['units']:,}{whole}")
    print("confusion matrix (rows: true digit, columns: predicted)")
    print("      " + "".join(f"{j:>6}" for j in range(10)))
    for i in range(10):
        print(f"{i:>6}" + "".join(f"{v:>6}" for v in confusion[i]))
    return 0


def _add_info(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("info", help="architecture and parameter counts of a checkpoint")
    p.add_argument("checkpoint")
    p.set_defaults(func=_cmd_info)


def _cmd_info(args: argparse.Namespace) -> int:
    from .models import layer_table, parameter_counts
    from .train import epochs_text

    meta, model = _load_model(args.checkpoint, "numpy")
    print(f"{args.checkpoint}: minicirc {meta.get('minicirc_version')}, "
          f"{epochs_text(meta['epoch'])} complete, seed {meta.get('seed')}")
    print("architecture: " + ", ".join(f"{k}={v}" for k, v in meta["arch"].items()))
    print(f"{'#':>3}  {'layer':<34}{'trainable':>12}{'dense equiv.':>14}")
    for row in layer_table(model):
        print(f"{row['index']:>3}  {row['layer']:<34}{row['params']:>12,}{row['dense_equivalent']:>14,}")
    n = parameter_counts(model)
    fc, fc_dense = n["fully_connected"], n["fully_connected_dense_equivalent"]
    total, dense = n["total"], n["dense_equivalent"]
    if fc != total:                 # the CNN: its convolutions are the same in its dense-head twin
        print(f"fully-connected trainable {fc:,}; dense equivalent {fc_dense:,}; compression {fc_dense / fc:.1f}x")
        print(f"total trainable {total:,} (convolutions {total - fc:,}); with a dense head {dense:,}; "
              f"compression {dense / total:.1f}x")
    else:
        print(f"total trainable {total:,}; dense equivalent {dense:,}; compression {dense / total:.1f}x")
    return 0


#: Subcommands whose options belong to another module's own ``main(argv)``.
PASSTHROUGH = {
    "reproduce": ("minicirc.mnist.reproduce", "train every model over several seeds and write docs/results/mnist.md"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="minicirc", description="Circulant (FFT) neural-network layers: "
                                     "train and inspect MLPs and CNNs on MNIST.")
    parser.add_argument("--version", action="version", version=f"minicirc {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    _add_train(sub)
    _add_evaluate(sub)
    _add_info(sub)
    for name, (_, text) in PASSTHROUGH.items():
        sub.add_parser(name, help=f"{text} (see 'minicirc {name} --help')", add_help=False)
    for name, p in sub.choices.items():
        p.set_defaults(parser=p)
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    """The ``minicirc`` command; returns its exit status."""
    try:
        return _main(argv)
    except KeyboardInterrupt:       # Ctrl-C outside training (imports, data, a model being built)
        print("minicirc: interrupted", file=sys.stderr)
        return 130


def _main(argv: Optional[List[str]]) -> int:
    from .checkpoint import CheckpointError
    from .idx import DataError
    from .train import ConfigError, TrainingStopped

    argv = sys.argv[1:] if argv is None else list(argv)
    if argv and argv[0] in PASSTHROUGH:
        import importlib

        # prog: so that their usage lines and errors name the command the user typed.
        return int(importlib.import_module(PASSTHROUGH[argv[0]][0]).main(argv[1:], prog=f"minicirc {argv[0]}") or 0)
    parser = build_parser()
    args = parser.parse_args(argv)
    args.argv = argv[1:]                    # the subcommand's own arguments, for _given
    try:
        code = int(args.func(args) or 0)
        sys.stdout.flush()                  # a closed pipe shows here, where it is handled below
        return code
    except TrainingStopped as e:
        print(f"minicirc: {e}", file=sys.stderr)
        return e.exit_code
    except ConfigError as e:                # options that make no run: a usage error
        args.parser.print_usage(sys.stderr)
        print(f"minicirc {args.command}: error: {e}", file=sys.stderr)
        return 2
    except (CheckpointError, DataError) as e:
        print(f"minicirc: error: {e}", file=sys.stderr)
        return 1
    except BrokenPipeError:                 # `minicirc info CKPT | head`: the reader left, not an error
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())   # so that the interpreter's final flush stays quiet
        return 141                          # 128 + SIGPIPE, as the shell reports for other tools
    except OSError as e:                    # a folder or file that cannot be written; names it
        print(f"minicirc: error: {e}", file=sys.stderr)
        return 1
    except RuntimeError as e:       # e.g. a backend that cannot run here
        print(f"minicirc: error: {e}", file=sys.stderr)
        return 1
    except MemoryError as e:        # what the size check before building could not foresee
        print(f"minicirc: error: out of memory{f' ({e})' if str(e) else ''}", file=sys.stderr)
        return 1
