"""A training loop for any model, loss, optimizer and data: ``fit``, and its ``train_step``.

    history = fit(model, SoftmaxCrossEntropy(), SGD(model, lr=0.1), x, y, epochs=5, batch_size=64)

Each epoch reshuffles ``(x, y)`` into mini-batches (``minicirc.batches.Batches``) and takes one
``train_step`` per batch: forward and loss, backward, update. ``fit`` returns one record per
epoch, ``{"epoch", "loss", "seconds"}``; ``on_epoch(record)`` runs after each epoch, may add
entries to the record (a validation error, say), and stops training by returning True.
"""
from __future__ import annotations

import sys
import time
from typing import Any, Callable, Dict, List, Optional

import numpy as np

from .batches import Batches


def train_step(model: Any, loss: Any, optimizer: Any, x: Any, y: Any, *,
               before_update: Optional[Callable[[Any, Any], None]] = None) -> Any:
    """One step of gradient descent on the batch ``(x, y)``; returns the loss (a 0-d array).

    ``before_update(loss_value, output)``, if given, runs between the loss and the backward
    pass: an exception there leaves the weights as they were (a trainer that stops at a NaN
    loss stops there, before the NaN reaches the weights).
    """
    output = model(x)
    value = loss(output, y)
    if before_update is not None:
        before_update(value, output)
    model.backward(loss.backward())    # fills every layer's grads (overwrites: no zero_grad)
    optimizer.step()
    return value


def fit(model: Any, loss: Any, optimizer: Any, x: Any, y: Any, *, epochs: int = 1,
        batch_size: int = 32, shuffle: bool = True, seed: Any = 0, progress: Optional[bool] = None,
        on_epoch: Optional[Callable[[Dict[str, Any]], Optional[bool]]] = None) -> List[Dict[str, Any]]:
    """Train ``model`` on ``(x, y)`` for ``epochs`` epochs of mini-batches; return the history.

    ``model`` has ``forward``/``backward`` (a Layer or a Sequential), ``loss`` is called as
    ``loss(output, y)`` and has ``backward()`` (``SoftmaxCrossEntropy``), ``optimizer`` has
    ``step()`` and was built on ``model``. ``seed`` draws the shuffles. ``progress``: a tqdm
    bar per epoch (None: only on a terminal). ``on_epoch(record)``: see the module docstring.
    """
    _check_fit(model, loss, optimizer, x, y, epochs, batch_size, on_epoch)
    batches = Batches(x, y, int(batch_size), shuffle=shuffle, seed=seed)
    history: List[Dict[str, Any]] = []
    for epoch in range(1, int(epochs) + 1):
        model.train()                   # dropout on (an on_epoch evaluation may have turned it off)
        start, total, seen = time.perf_counter(), 0.0, 0
        bar = progress_bar(len(batches), f"epoch {epoch}/{epochs}", progress)
        for xb, yb in batches:
            # Summed as arrays: on a GPU a float() per step would wait for the device each time.
            total = total + train_step(model, loss, optimizer, xb, yb) * xb.shape[0]
            seen += xb.shape[0]
            if bar is not None:
                bar.update(1)
        if bar is not None:
            bar.close()
        record = {"epoch": epoch, "loss": float(total) / seen, "seconds": time.perf_counter() - start}
        history.append(record)
        if on_epoch is not None and on_epoch(record):
            break
    return history


def progress_bar(total: int, desc: str, enabled: Optional[bool]) -> Any:
    """A tqdm bar of ``total`` steps, or None: ``enabled`` None means only on a terminal, so
    that a log written to a file holds no bar redraws."""
    if enabled is False or (enabled is None and not sys.stderr.isatty()):
        return None
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, leave=False, unit="batch", dynamic_ncols=True)


def _check_fit(model: Any, loss: Any, optimizer: Any, x: Any, y: Any, epochs: Any, batch_size: Any,
               on_epoch: Any) -> None:
    """Refuse, naming the argument, what would otherwise fail mid-epoch or train on nothing."""
    for name, obj, methods in (("model", model, ("forward", "backward", "train")),
                               ("loss", loss, ("__call__", "backward")), ("optimizer", optimizer, ("step",))):
        missing = [m for m in methods if not callable(getattr(obj, m, None))]
        if missing:
            raise TypeError(f"fit: {name} must have {', '.join(m + '()' for m in missing)}; "
                            f"got {type(obj).__name__}")
    for name, v in (("epochs", epochs), ("batch_size", batch_size)):
        if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, np.integer)) or v < 1:
            raise ValueError(f"fit: {name} must be a positive integer, got {v!r}")
    for name, a in (("x", x), ("y", y)):
        if not hasattr(a, "shape") or len(a.shape) == 0:
            raise TypeError(f"fit: {name} must be an array with samples along its first axis, "
                            f"got {type(a).__name__}")
    if x.shape[0] != y.shape[0]:
        raise ValueError(f"fit: x has {x.shape[0]} samples but y has {y.shape[0]}")
    if x.shape[0] == 0:
        raise ValueError("fit: x and y have no samples")
    if on_epoch is not None and not callable(on_epoch):
        raise TypeError(f"fit: on_epoch must be a function of the epoch's record, got {type(on_epoch).__name__}")
