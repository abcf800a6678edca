"""The MNIST application built on the engine: the IDX reader, the bundled MNIST data, the
models and their recipes, the trainer with its checkpoints, and the ``minicirc`` command.

Nothing in the engine (``minicirc.layers``, ``backends``, ``losses``, ``optim``,
``gradcheck``, ``loop``) imports this package.
"""
from .idx import DataError, read_idx, write_idx
from .dataset import MNIST, load_mnist

__all__ = ["load_mnist", "MNIST", "read_idx", "write_idx", "DataError"]
