"""minicirc: a small neural-network engine for circulant (FFT-based) layers.

Every layer has a hand-derived ``forward``/``backward``; ``minicirc.gradcheck`` checks them
against central differences. See README.md and docs/derivation.md.
"""
__version__ = "0.1.0"

from .layers import (Layer, Dense, Circulant, BlockCirculant, Conv2D, MaxPool2D, Flatten, ReLU, Tanh,
                     Sigmoid, Dropout, Sequential)
from .losses import SoftmaxCrossEntropy
from .optim import SGD, Adam, AdamW
from .backends import get_backend, BACKENDS
from .loop import fit, train_step
from . import gradcheck

__all__ = ["Layer", "Dense", "Circulant", "BlockCirculant", "Conv2D", "MaxPool2D", "Flatten", "ReLU",
           "Tanh", "Sigmoid", "Dropout", "Sequential", "SoftmaxCrossEntropy", "SGD", "Adam", "AdamW",
           "fit", "train_step", "get_backend", "BACKENDS", "gradcheck", "__version__"]
