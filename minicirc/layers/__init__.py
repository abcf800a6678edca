"""Layers, one per file; each module docstring carries its forward and backward equations."""
from .base import Layer
from .dense import Dense
from .circulant import Circulant
from .block_circulant import BlockCirculant
from .activations import ReLU, Tanh, Sigmoid
from .dropout import Dropout
from .sequential import Sequential

__all__ = ["Layer", "Dense", "Circulant", "BlockCirculant", "ReLU", "Tanh", "Sigmoid", "Dropout",
           "Sequential"]
