"""What a training checkpoint holds, checked once, when it is read.

A checkpoint is data from outside: a valid ``.npz`` with valid JSON metadata can still miss a
field, hold a string where the epoch count belongs, a generator state NumPy refuses, settings
that fail ``TrainConfig``'s checks, strings or NaN where numbers belong, or an architecture
whose sizes do not match its arrays. ``read_training_checkpoint`` refuses each of these with a
``CheckpointError`` naming the file and the field; ``minicirc info``, ``evaluate`` and
``train --resume`` read through it, and trust what it returns.

``META`` below is the schema: one entry per metadata field the trainer writes
(``Trainer._meta``), each a function that raises ``Bad`` with what is wrong. The arrays are
then checked against the shapes the architecture declares (``memory.array_shapes``), computed
from the sizes without building anything, and against the memory left.
"""
from __future__ import annotations

import itertools
import math
from dataclasses import fields
from pathlib import Path
from typing import Any, Callable, Dict, Tuple, Union

import numpy as np

from .checkpoint import CheckpointError, read_checkpoint


class Bad(ValueError):
    """A field's value is wrong; the message says how (the caller adds file and field)."""


# -- the kinds of value ------------------------------------------------------------------

def _kind(v: Any) -> str:
    return {bool: "a boolean", str: "a string", list: "a list", dict: "an object",
            type(None): "null"}.get(type(v), "a number")


def count(v: Any, low: int = 0) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or v < low:
        raise Bad(f"must be an integer >= {low}, got {_kind(v)} {v!r}"[:200])
    return v


def real(v: Any, low: float = -math.inf) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v < low:
        raise Bad(f"must be a finite number{f' >= {low:g}' if low > -math.inf else ''}, got {_kind(v)} {v!r}"[:200])
    return float(v)


def obj(v: Any, keys: Tuple[str, ...] = ()) -> Dict[str, Any]:
    if not isinstance(v, dict):
        raise Bad(f"must be an object, got {_kind(v)}")
    missing = [k for k in keys if k not in v]
    if missing:
        raise Bad(f"has no {missing[0]!r}")
    return v


def listof(v: Any) -> list:
    if not isinstance(v, list):
        raise Bad(f"must be a list, got {_kind(v)}")
    return v


def generator_state(v: Any) -> Any:
    """A ``bit_generator.state`` NumPy takes (tried on a throwaway generator)."""
    try:
        np.random.default_rng(0).bit_generator.state = v
    except (TypeError, ValueError, KeyError, OverflowError, AttributeError, IndexError) as e:
        raise Bad(f"is not a generator state NumPy accepts ({type(e).__name__}: {e})"[:300]) from None
    return v


def sub(d: Dict[str, Any], key: str, check: Callable[[Any], Any]) -> Any:
    try:
        return check(d[key])
    except Bad as e:
        raise Bad(f".{key} {e}" if not str(e).startswith((".", "[")) else f".{key}{e}") from None


# -- the fields -------------------------------------------------------------------------

def arch(v: Any) -> Dict[str, Any]:
    from .models import architecture

    keys = ("kind", "hidden", "layers", "sign_flip", "dropout", "block", "d_in", "classes")
    if isinstance(v, dict) and v.get("kind") == "cnn":
        keys += ("head",)               # an MLP's description has none (models.architecture)
    obj(v, keys)
    try:
        normal = architecture(**{k: v[k] for k in keys})
    except (ValueError, TypeError) as e:
        raise Bad(f"does not describe a model: {e}") from None
    for k in keys:                   # e.g. sign_flip "no", which architecture() would take as True
        if normal[k] != v[k]:
            raise Bad(f".{k} is {v[k]!r}, not a valid {k} ({normal[k]!r} would be)")
    return v


#: The settings added after checkpoints were first written: a file without one was written
#: before it existed, and takes its default (``TrainConfig.from_dict`` leaves it unset).
SINCE_LATER = ("head",)


def config(v: Any) -> Dict[str, Any]:
    """The run's settings: every TrainConfig field (but those of ``SINCE_LATER``), passing
    TrainConfig's own checks."""
    from .config import TrainConfig

    obj(v, tuple(f.name for f in fields(TrainConfig) if f.name not in SINCE_LATER))
    try:
        TrainConfig.from_dict(v).resolved()
    except (ValueError, TypeError, KeyError, IndexError, OverflowError, AttributeError) as e:
        raise Bad(f"fails the settings' checks: {e}"[:300]) from None   # ConfigError: "TrainConfig: lr must be ..."
    return v


def _arch_of(c: Dict[str, Any]) -> Dict[str, Any]:
    """The architecture the trainer builds from settings ``c`` (``TrainConfig.architecture``)."""
    from .config import TrainConfig

    return TrainConfig.from_dict(c).architecture()


def batches(v: Any) -> Dict[str, Any]:
    obj(v, ("epoch", "position", "rng", "n", "batch_size", "shuffle"))
    for k, low in (("epoch", 0), ("position", 0), ("n", 1), ("batch_size", 1)):
        sub(v, k, lambda x, low=low: count(x, low))
    if not isinstance(v["shuffle"], bool):
        raise Bad(f".shuffle must be a boolean, got {_kind(v['shuffle'])}")
    sub(v, "rng", generator_state)
    if v["position"] >= -(-v["n"] // v["batch_size"]):
        raise Bad(f".position {v['position']} is past the end of an epoch of {v['n']} images in batches "
                  f"of {v['batch_size']}")
    return v


def dropout_rng(v: Any) -> list:
    for i, state in enumerate(listof(v)):
        try:
            generator_state(state)
        except Bad as e:
            raise Bad(f"[{i}] {e}") from None
    return v


#: The optimizer each name in the settings builds (``Trainer`` writes both).
OPTIMIZER_CLASSES = {"sgd": "SGD", "adam": "Adam", "adamw": "AdamW"}


def optimizer(v: Any) -> Dict[str, Any]:
    obj(v, ("name", "t"))
    if not isinstance(v["name"], str) or v["name"] not in OPTIMIZER_CLASSES:
        raise Bad(f".name must be one of {', '.join(map(repr, OPTIMIZER_CLASSES))}, got {v['name']!r}"[:200])
    # No "class": written when "adam" meant decoupled decay, which config.saved_config reads as
    # "adamw". With one, it must be the class the name builds.
    if "class" in v and not (isinstance(v["class"], str) and v["class"] == OPTIMIZER_CLASSES[v["name"]]):
        raise Bad(f".class must be {OPTIMIZER_CLASSES[v['name']]!r} for name {v['name']!r}, got {v['class']!r}"[:200])
    sub(v, "t", count)
    return v


#: Each number an epoch's record holds, and the lowest it can be.
RECORD = {"epoch": 1, "steps": 0, "train_loss": 0.0, "train_error": 0.0, "test_error": 0.0,
          "seconds": 0.0, "samples_per_second": 0.0}


def history(v: Any) -> list:
    for i, record in enumerate(listof(v)):
        try:
            obj(record, tuple(RECORD))
            for k, low in RECORD.items():
                sub(record, k, (lambda x, low=low: count(x, low)) if isinstance(low, int) else
                    (lambda x, low=low: real(x, low)))
            if "val_error" in record:
                sub(record, "val_error", lambda x: real(x, 0.0))
        except Bad as e:
            raise Bad(f"[{i}]{e if str(e).startswith('.') else ' ' + str(e)}") from None
    return v


def partial_epoch(v: Any) -> Any:
    if v is None:
        return v
    obj(v, ("loss_sum", "right", "seen", "seconds"))
    sub(v, "loss_sum", lambda x: real(x, 0.0))
    sub(v, "right", count)
    sub(v, "seen", count)
    sub(v, "seconds", lambda x: real(x, 0.0))
    return v


def text(v: Any) -> str:
    if not isinstance(v, str):
        raise Bad(f"must be a string, got {_kind(v)}")
    return v


#: The schema: every field a training checkpoint's metadata holds, and its check.
META: Dict[str, Callable[[Any], Any]] = {
    "minicirc_version": text, "arch": arch, "config": config, "epoch": count, "step": count,
    "seed": count, "batches": batches, "dropout_rng": dropout_rng, "optimizer": optimizer,
    "history": history, "partial_epoch": partial_epoch,
}


def check_meta(meta: Dict[str, Any]) -> None:
    """Raise ``Bad("field ...")`` at the first field of ``META`` missing or wrong, then check the
    fields against one another."""
    for name, check in META.items():
        if name not in meta:
            raise Bad(f"'{name}' is missing")
        try:
            check(meta[name])
        except Bad as e:
            raise Bad(f"'{name}'{e if str(e).startswith(('.', '[')) else ' ' + str(e)}") from None
    a, c = meta["arch"], meta["config"]
    try:
        built = _arch_of(c)
    except ValueError as e:
        raise Bad(f"'config' does not describe a model: {e}") from None
    if built != a:
        differ = next(k for k in [*a, *built] if built.get(k, "nothing") != a.get(k, "nothing"))
        raise Bad(f"'config' describes {differ}={built.get(differ, 'nothing')!r}, 'arch' has "
                  f"{a.get(differ, 'nothing')!r}")
    n_dropout = a["layers"] if a["dropout"] > 0 else 0
    if len(meta["dropout_rng"]) != n_dropout:
        raise Bad(f"'dropout_rng' holds {len(meta['dropout_rng'])} generator states, the architecture has "
                  f"{n_dropout} dropout layers")
    if len(meta["history"]) != meta["epoch"]:
        raise Bad(f"'history' has {len(meta['history'])} epochs, 'epoch' says {meta['epoch']} are complete")
    if meta["optimizer"]["name"] != c["optimizer"]:
        raise Bad(f"'optimizer.name' is {meta['optimizer']['name']!r}, 'config.optimizer' {c['optimizer']!r}")
    if meta["batches"]["batch_size"] != c["batch_size"]:
        raise Bad(f"'batches.batch_size' is {meta['batches']['batch_size']}, 'config.batch_size' "
                  f"{c['batch_size']}")


def check_arrays(meta: Dict[str, Any], arrays: Dict[str, np.ndarray]) -> None:
    """The arrays against the architecture's declared shapes and the memory left (before
    anything is built), then each: floating point and finite, the step count an integer."""
    from .memory import array_count, array_shapes, iter_array_shapes, memory_shortfall

    too_large = memory_shortfall(meta["arch"], meta["config"]["dtype"])
    if too_large:
        raise Bad(f"'arch': {too_large}")
    present = {k for k in arrays if k.startswith(("param/", "buffer/"))}
    if array_count(meta["arch"]) > len(present):
        # Some are missing: name the first few without listing all the architecture declares,
        # which may be millions of layers of a few numbers each (they pass the memory check).
        missing = list(itertools.islice((k for k, _ in iter_array_shapes(meta["arch"]) if k not in present), 3))
        extra: list = []
    else:
        shapes = array_shapes(meta["arch"])           # no more entries than the file holds
        missing, extra = sorted(set(shapes) - present)[:3], sorted(present - set(shapes))
    if missing or extra:
        raise Bad(f"'arch' declares arrays {missing} that the file lacks" if missing else
                  f"the file holds {extra[:3]}, which 'arch' does not declare")
    params = {k[len("param/"):]: s for k, s in shapes.items() if k.startswith("param/")}
    for key, a in arrays.items():
        if key == "optim/t":
            if a.shape != () or a.dtype.kind not in "iu" or int(a) < 0:
                raise Bad(f"array 'optim/t' must be a non-negative integer scalar, got {a.dtype} {a.shape}")
            if int(a) != meta["optimizer"]["t"]:
                raise Bad(f"array 'optim/t' is {int(a)}, 'optimizer.t' {meta['optimizer']['t']}")
            continue
        if key.startswith("optim/"):
            name = key[len("optim/"):].rpartition("/")[0]
            if name not in params:
                raise Bad(f"array {key!r}: optimizer state for a parameter {name!r} the model does not have")
            expected = params[name]
        elif key in shapes:
            expected = shapes[key]
        else:
            raise Bad(f"array {key!r} is not part of a minicirc checkpoint")
        if a.dtype.kind != "f":
            raise Bad(f"array {key!r} must be floating point, got {a.dtype}")
        if a.shape != expected:
            raise Bad(f"array {key!r} has shape {a.shape}, 'arch' declares {expected}")
        if not np.all(np.isfinite(a)):
            raise Bad(f"array {key!r} contains NaN or Inf")


def read_training_checkpoint(path: Union[str, Path]) -> Tuple[Dict[str, Any], Dict[str, np.ndarray]]:
    """``read_checkpoint``, then every check above: ``(meta, arrays)`` that can be trusted."""
    meta, arrays = read_checkpoint(path)
    try:
        check_meta(meta)
        check_arrays(meta, arrays)
    except Bad as e:
        raise CheckpointError(f"{path}: metadata field {e}" if str(e).startswith("'") else f"{path}: {e}") from None
    return meta, arrays
