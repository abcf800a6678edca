"""Layers, one per file; each module docstring carries its forward and backward equations."""
from .base import Layer
from .dense import Dense
from .circulant import Circulant
from .block_circulant import BlockCirculant
from .conv2d import Conv2D
from .maxpool2d import MaxPool2D
from .flatten import Flatten
from .activations import ReLU, Tanh, Sigmoid
from .dropout import Dropout
from .sequential import Sequential

__all__ = ["Layer", "Dense", "Circulant", "BlockCirculant", "Conv2D", "MaxPool2D", "Flatten", "ReLU", "Tanh",
           "Sigmoid", "Dropout", "Sequential"]
