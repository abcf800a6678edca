"""The settings of a training run: ``TrainConfig``, checked and filled from the recipes.

``TrainConfig.resolved()`` checks every setting (type and range, as the command line does)
and fills those left ``None`` from the model kind's recipe (``recipes.py``) and sizes
(``models.MODEL_DEFAULTS``), so that a bad setting from Python fails before any data loads,
never after an epoch of training.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any, Callable, Dict, Optional

import numpy as np

from ..backends import BACKENDS
from .models import CNN_HEADS, KINDS, MODEL_DEFAULTS, architecture
from ..optim import constant_lr, cosine_lr
from .recipes import RECIPES
from .settings import (FLAG, FRACTION, NONNEG, NONNEG_INT, PATH, POSITIVE, POSITIVE_INT, Choice,
                       CountOrFraction, require, setting)

SCHEDULES: Dict[str, Callable[..., float]] = {"cosine": cosine_lr, "constant": constant_lr}

#: The settings whose ``None`` takes the model kind's recipe (``TrainConfig.resolved``).
FROM_RECIPE = ("momentum", "nesterov", *sorted(set().union(*RECIPES.values())))

#: The settings that define what a run computes: a resumed run must have the checkpoint's.
#: (backend, data, out, save_every, plot and verify may change: where and how, not what.)
RUN_SETTINGS = ("model", "head", "hidden", "layers", "sign_flip", "block", "dropout", "optimizer", "lr",
                "momentum", "nesterov", "weight_decay", "schedule", "warmup", "epochs", "batch_size",
                "seed", "dtype", "validation", "train_limit")


class ConfigError(ValueError):
    """The run's settings do not make a run: an option out of range or options that conflict."""


def _dtype_name(v: Any) -> Any:
    """``np.float64`` or ``"float64"`` -> ``"float64"``. None is no dtype here: ``np.dtype(None)``
    would quietly be float64."""
    if v is None:
        raise TypeError("no dtype")
    return np.dtype(v).name


@dataclass
class TrainConfig:
    """Everything that defines a run. ``None`` means: take the model kind's recipe (or, for
    ``head``, ``hidden`` and ``layers``, its sizes: ``models.MODEL_DEFAULTS``).

    Each field is a ``setting``: its rule (checked by ``resolved``), its default and its help,
    from which ``minicirc train`` builds its options (``cli.py``).
    """

    model: str = setting("circulant", Choice(KINDS), "dense, circulant, hybrid (dense first layer) or "
                         "block (block-circulant) MLP, or cnn (LeNet's convolutions, then --head)", group="model")
    head: Optional[str] = setting(None, Choice(CNN_HEADS), "the fully-connected layer of --model cnn: "
                                  "dense, circulant (n = 800, the output cropped to --hidden) or block "
                                  f"(block-circulant, --block K) (default {MODEL_DEFAULTS['cnn']['head']})",
                                  group="model")
    hidden: Optional[int] = setting(None, POSITIVE_INT, f"hidden width (default {MODEL_DEFAULTS['dense']['hidden']}; "
                                    f"for --model cnn the head's, default {MODEL_DEFAULTS['cnn']['hidden']})",
                                    group="model")
    layers: Optional[int] = setting(None, POSITIVE_INT, f"hidden layers of an MLP (default "
                                    f"{MODEL_DEFAULTS['dense']['layers']}; --model cnn has one, its head)",
                                    group="model")
    sign_flip: bool = setting(True, FLAG, "circulant layers without the random sign diagonal D", group="model")
    block: Optional[int] = setting(None, POSITIVE_INT, "block size for --model block and --head block",
                                   group="model")
    dropout: Optional[float] = setting(None, FRACTION, "dropout rate after each hidden layer", group="model")
    optimizer: Optional[str] = setting(None, Choice(("sgd", "adam", "adamw")), "sgd, adam or adamw",
                                       group="optimisation")
    lr: Optional[float] = setting(None, POSITIVE, "peak learning rate", group="optimisation")
    momentum: Optional[float] = setting(None, FRACTION, "SGD momentum", group="optimisation")
    nesterov: Optional[bool] = setting(None, FLAG, "Nesterov momentum (SGD)", group="optimisation",
                                       no_help="plain momentum, where the recipe has Nesterov's (dense)")
    weight_decay: Optional[float] = setting(None, NONNEG, "sgd and adam: L2; adamw: decoupled",
                                            group="optimisation")
    schedule: str = setting("cosine", Choice(tuple(SCHEDULES)), "the learning rate over the run: "
                            "cosine decay from --lr, or --lr throughout", group="optimisation")
    warmup: int = setting(0, NONNEG_INT, "linear warm-up steps", group="optimisation")
    epochs: Optional[int] = setting(None, POSITIVE_INT, "passes over the training images",
                                    group="optimisation")
    batch_size: int = setting(128, POSITIVE_INT, "training images per step", group="optimisation")
    seed: int = setting(0, NONNEG_INT, "seeds the weights, the shuffles and the validation split",
                        group="run")
    backend: str = setting("numpy", Choice(BACKENDS), "where the layers compute", group="run")
    dtype: str = setting("float32", Choice(("float32", "float64"), "float32 or float64", _dtype_name),
                         "the floating-point type of weights and activations", group="run")
    validation: float = setting(0, CountOrFraction(), "hold out this many training images (or this "
                                "fraction) for validation", group="run")
    train_limit: Optional[int] = setting(None, POSITIVE_INT, "train on the first N training images only "
                                         "(smoke tests)", group="run")
    data: Optional[str] = setting(None, PATH, "directory of MNIST IDX files (default: the bundled copy)",
                                  group="run")
    verify: bool = setting(True, FLAG, "skip the MNIST checksums (other data under the MNIST file names)",
                           group="run")
    out: str = setting("runs/latest", PATH, "output directory", group="run")
    save_every: int = setting(0, NONNEG_INT, "also keep epoch-NNN.npz every N epochs", group="run")
    plot: bool = setting(True, FLAG, "skip curves.png", group="run")

    def resolved(self) -> "TrainConfig":
        """A checked copy with every ``None`` filled from the recipe and sizes of ``model``.

        Raises ``ConfigError`` naming the setting that is out of range or of the wrong type,
        or that the model has not (``head`` for an MLP, more than one hidden layer for the
        CNN), before any data loads: from Python, as from the command line, a bad setting must
        not cost an epoch of training first. Paths become strings and ``dtype`` its name, so
        the settings can be written into a checkpoint.
        """
        values = _checked(asdict(self))
        model = values["model"]
        if model != "cnn" and values["head"] is not None:
            raise ConfigError(f"TrainConfig: head={values['head']!r} applies to model 'cnn' only, not {model!r}")
        if model == "cnn" and values["layers"] not in (None, 1):
            raise ConfigError(f"TrainConfig: layers={values['layers']!r} applies to the MLPs only: model 'cnn' "
                              "has one fully-connected hidden layer, its head (its width: hidden)")
        for k, v in MODEL_DEFAULTS[model].items():
            if values[k] is None:
                values[k] = v
        recipe = {"momentum": 0.9, "nesterov": False, **RECIPES[values["model"]]}   # keys: FROM_RECIPE
        if self.nesterov is None and self.momentum == 0:
            values["nesterov"] = False          # no momentum, no Nesterov: not the recipe's to insist
        for k, v in recipe.items():
            if values.get(k) is None:
                values[k] = v
        return TrainConfig(**values)

    def architecture(self) -> Dict[str, Any]:
        """The description of the model these settings train (``models.architecture``), from
        the resolved settings."""
        r = self.resolved()
        return architecture(r.model, head=r.head, hidden=r.hidden, layers=r.layers, sign_flip=r.sign_flip,
                            dropout=r.dropout, block=r.block)

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
        return cls.from_dict({**saved_config(meta), "out": str(Path(path).parent), **overrides})


def saved_config(meta: Dict[str, Any]) -> Dict[str, Any]:
    """The settings stored in a checkpoint's metadata, in today's names.

    A checkpoint whose ``optimizer`` entry has no ``class`` was written when "adam" meant
    Adam with decoupled weight decay, which is now "adamw" ("adam" is now L2, as PyTorch's):
    it resumes as "adamw", the optimizer that wrote it."""
    saved = dict(meta.get("config") or {})
    written_by = meta.get("optimizer")
    if saved.get("optimizer") == "adam" and not (isinstance(written_by, dict) and "class" in written_by):
        saved["optimizer"] = "adamw"
    return saved


def _checked(values: Dict[str, Any]) -> Dict[str, Any]:
    """``values`` (a TrainConfig's fields) checked by each field's rule and normalised; ``None``
    passes where it is the default (the recipe's value); see ``TrainConfig.resolved``."""
    for f in fields(TrainConfig):
        v = values[f.name]
        if not (v is None and f.default is None):
            values[f.name] = require(f.metadata["rule"], f.name, v, ConfigError, "TrainConfig: ")
    return values

