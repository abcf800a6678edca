"""Optimizers. Each takes a model (a Layer: its ``named_parameters()`` and ``named_grads()``
yield ``(name, array)`` pairs), keeps its state keyed by parameter name, and updates each
parameter in place. They see ``params`` and ``grads`` only: the circulant ``signs`` are buffers and are
never touched.
"""
from .sgd import SGD
from .adam import Adam, AdamW
from .schedules import cosine_lr, constant_lr

__all__ = ["SGD", "Adam", "AdamW", "cosine_lr", "constant_lr"]
