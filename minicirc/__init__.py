"""minicirc: a small neural-network engine for circulant (FFT-based) layers.

Every layer has a hand-derived ``forward``/``backward``; ``minicirc.gradcheck`` checks them
against central differences. See README.md and docs/derivation.md.

The names below are imported on first use (PEP 562), not with the package: ``import
minicirc`` alone loads neither NumPy nor SciPy, so that the ``minicirc`` command can catch a
Ctrl-C during those imports (``minicirc/__main__.py``) and exit with one line, not a traceback.
"""
from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any, List

if TYPE_CHECKING:            # what a type checker sees; at run time __getattr__ imports these
    from . import gradcheck
    from .backends import BACKENDS, get_backend
    from .layers import (BlockCirculant, Circulant, Conv2D, Dense, Dropout, Flatten, Layer, MaxPool2D, ReLU,
                         Sequential, Sigmoid, Tanh)
    from .loop import fit, train_step
    from .losses import SoftmaxCrossEntropy
    from .optim import SGD, Adam, AdamW

__version__ = "0.1.0"

#: public name -> the submodule that defines it
_EXPORTS = {
    "Layer": "layers", "Dense": "layers", "Circulant": "layers", "BlockCirculant": "layers",
    "Conv2D": "layers", "MaxPool2D": "layers", "Flatten": "layers",
    "ReLU": "layers", "Tanh": "layers", "Sigmoid": "layers", "Dropout": "layers", "Sequential": "layers",
    "SoftmaxCrossEntropy": "losses", "SGD": "optim", "Adam": "optim", "AdamW": "optim",
    "fit": "loop", "train_step": "loop",
    "get_backend": "backends", "BACKENDS": "backends",
}
_SUBMODULES = ("layers", "losses", "optim", "backends", "gradcheck", "batches", "loop", "mnist")

__all__ = [*_EXPORTS, "gradcheck", "__version__"]


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        value = getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    elif name in _SUBMODULES:
        value = importlib.import_module(f".{name}", __name__)
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value          # once imported, an ordinary attribute
    return value


def __dir__() -> List[str]:
    return sorted(set(globals()) | set(__all__))
