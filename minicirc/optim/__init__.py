"""Optimizers. Each takes a model (anything with ``named_parameters()`` yielding
``(name, param, grad)``), keeps its state keyed by parameter name, and updates ``param``
in place. They see ``params`` and ``grads`` only: the circulant ``signs`` are buffers and are
never touched.
"""
from .sgd import SGD
from .adam import Adam
from .schedules import cosine_lr, constant_lr

__all__ = ["SGD", "Adam", "cosine_lr", "constant_lr"]
