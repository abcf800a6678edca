"""The settings of a training run: ``TrainConfig``, checked and filled from the recipes.

``TrainConfig.resolved()`` checks every setting (type and range, as the command line does)
and fills those left ``None`` from the model kind's recipe (``recipes.py``), so that a bad
setting from Python fails before any data loads, never after an epoch of training.
"""
from __future__ import annotations

import math
import os
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any, Callable, Dict, Optional, Tuple

import numpy as np

from .._args import is_real
from ..optim import constant_lr, cosine_lr
from .recipes import RECIPES

SCHEDULES: Dict[str, Callable[..., float]] = {"cosine": cosine_lr, "constant": constant_lr}

#: The settings that define what a run computes: a resumed run must have the checkpoint's.
#: (backend, data, out, save_every, plot and verify may change: where and how, not what.)
RUN_SETTINGS = ("model", "hidden", "layers", "sign_flip", "block", "dropout", "optimizer", "lr",
                "momentum", "nesterov", "weight_decay", "schedule", "warmup", "epochs", "batch_size",
                "seed", "dtype", "validation", "train_limit")


class ConfigError(ValueError):
    """The run's settings do not make a run: an option out of range or options that conflict."""


@dataclass
class TrainConfig:
    """Everything that defines a run. ``None`` means: take the model kind's recipe."""

    model: str = "circulant"
    hidden: int = 1024
    layers: int = 2
    sign_flip: bool = True
    block: Optional[int] = None
    dropout: Optional[float] = None
    optimizer: Optional[str] = None
    lr: Optional[float] = None
    momentum: Optional[float] = None
    nesterov: Optional[bool] = None
    weight_decay: Optional[float] = None
    schedule: str = "cosine"
    warmup: int = 0
    epochs: Optional[int] = None
    batch_size: int = 128
    seed: int = 0
    backend: str = "numpy"
    dtype: str = "float32"
    validation: float = 0
    train_limit: Optional[int] = None
    data: Optional[str] = None
    verify: bool = True
    out: str = "runs/latest"
    save_every: int = 0
    plot: bool = True

    def resolved(self) -> "TrainConfig":
        """A checked copy with every ``None`` filled from the recipe of ``model``.

        Raises ``ConfigError`` naming the setting that is out of range or of the wrong type,
        before any data loads: from Python, as from the command line, a bad setting must not
        cost an epoch of training first. Paths become strings and ``dtype`` its name, so the
        settings can be written into a checkpoint.
        """
        values = _checked(asdict(self))
        recipe = {"momentum": 0.9, "nesterov": False, **RECIPES[values["model"]]}
        if self.nesterov is None and self.momentum == 0:
            values["nesterov"] = False          # no momentum, no Nesterov: not the recipe's to insist
        for k, v in recipe.items():
            if values.get(k) is None:
                values[k] = v
        return TrainConfig(**values)

    @classmethod
    def from_dict(cls, d: Dict[str, Any]) -> "TrainConfig":
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})

    @classmethod
    def from_checkpoint(cls, path: str, **overrides: Any) -> "TrainConfig":
        """The settings of the run that wrote checkpoint ``path``, to resume it with.

        Its output goes on in the checkpoint's folder. ``overrides`` replace settings (those of
        ``RUN_SETTINGS`` must keep their value, or ``Trainer.resume`` refuses the checkpoint).
        """
        from .schema import read_training_checkpoint     # schema.py checks settings with this module

        meta, _ = read_training_checkpoint(path)
        return cls.from_dict({**meta["config"], "out": str(Path(path).parent), **overrides})


def _checked(values: Dict[str, Any]) -> Dict[str, Any]:
    """``values`` (a TrainConfig's fields) checked and normalised; see ``TrainConfig.resolved``."""
    from ..backends import BACKENDS
    from .models import KINDS

    def number(name: str, ok: Callable[[float], bool], what: str, integer: bool = False,
               optional: bool = False) -> None:
        v = values[name]
        if v is None and optional:
            return
        # 15.0 epochs is 15 (the value, not its type, must be whole); 2.5 is refused.
        if not is_real(v) or not math.isfinite(v) or (integer and not float(v).is_integer()) or not ok(v):
            raise ConfigError(f"TrainConfig: {name} must be {what}, got {v!r}")
        values[name] = int(v) if integer else float(v)

    def choice(name: str, options: Tuple[str, ...], optional: bool = False) -> None:
        v = values[name]
        if not (v is None and optional) and v not in options:
            raise ConfigError(f"TrainConfig: {name} must be one of {', '.join(options)}, got {v!r}")

    def flag(name: str, optional: bool = False) -> None:
        v = values[name]
        if not (v is None and optional) and not isinstance(v, (bool, np.bool_)):
            raise ConfigError(f"TrainConfig: {name} must be True or False, got {v!r}")
        values[name] = v if v is None else bool(v)

    choice("model", KINDS)
    number("hidden", lambda v: v >= 1, "a positive integer", integer=True)
    number("layers", lambda v: v >= 1, "a positive integer", integer=True)
    flag("sign_flip")
    number("block", lambda v: v >= 1, "a positive integer", integer=True, optional=True)
    number("dropout", lambda v: 0 <= v < 1, "a number in [0, 1)", optional=True)
    choice("optimizer", ("sgd", "adam"), optional=True)
    number("lr", lambda v: v > 0, "a positive number", optional=True)
    number("momentum", lambda v: 0 <= v < 1, "a number in [0, 1)", optional=True)
    flag("nesterov", optional=True)
    number("weight_decay", lambda v: v >= 0, "a number >= 0", optional=True)
    choice("schedule", tuple(SCHEDULES))
    number("warmup", lambda v: v >= 0, "a non-negative integer", integer=True)
    number("epochs", lambda v: v >= 1, "a positive integer", integer=True, optional=True)
    number("batch_size", lambda v: v >= 1, "a positive integer", integer=True)
    number("seed", lambda v: v >= 0, "a non-negative integer", integer=True)
    choice("backend", BACKENDS)
    try:       # None is not "the default": np.dtype(None) would quietly be float64
        dtype = None if values["dtype"] is None else np.dtype(values["dtype"]).name
    except TypeError:
        dtype = None
    if dtype not in ("float32", "float64"):
        raise ConfigError(f"TrainConfig: dtype must be float32 or float64, got {values['dtype']!r}")
    values["dtype"] = dtype
    v = values["validation"]                   # a count of images, or a fraction of them
    count = is_real(v) and math.isfinite(v) and float(v).is_integer()
    number("validation", lambda v: v >= 0 and (v < 1 or count), "a count or a fraction in (0, 1)",
           integer=count)
    number("train_limit", lambda v: v >= 1, "a positive integer", integer=True, optional=True)
    for name in ("data", "out"):
        v = values[name]
        if not ((v is None and name == "data") or isinstance(v, (str, os.PathLike))):
            raise ConfigError(f"TrainConfig: {name} must be a path, got {v!r}")
        values[name] = v if v is None else os.fspath(v)
    flag("verify")
    number("save_every", lambda v: v >= 0, "a non-negative integer", integer=True)
    flag("plot")
    return values
