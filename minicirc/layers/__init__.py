from .base import Layer
from .dense import Dense
from .circulant import Circulant

__all__ = ["Layer", "Dense", "Circulant"]
