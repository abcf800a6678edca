"""Data: the IDX reader and writer, MNIST (bundled, verified, split) and mini-batches."""
from .batches import Batches
from .idx import DataError, read_idx, write_idx
from .mnist import MNIST, load_mnist

__all__ = ["load_mnist", "MNIST", "read_idx", "write_idx", "DataError", "Batches"]
