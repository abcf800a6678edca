__version__ = "0.1.0"
from .layers import Layer, Dense, Circulant
