"""Dead ReLU units: hidden units that no image of a set makes positive.

A ReLU passes ``dy`` only where its input is positive, so a unit whose input is negative for
every image gives nothing below it a gradient. When every unit of a layer is dead the model's
output no longer depends on its input and training is stuck at chance for good: a circulant
head without its sign flips can end there (docs/results/sign_flip_cnn.md). ``minicirc
evaluate`` prints the count for each ReLU of a checkpoint's model.
"""
from __future__ import annotations

from typing import Any, Dict, List

from ..backends import array_module, to_host
from ..layers import ReLU, Sequential


def dead_units(model: Sequential, X: Any, batch: int = 2000) -> List[Dict[str, Any]]:
    """For each ReLU of ``model`` (in evaluation mode): its index, the layer before it, and how
    many of its units (one per output number of an image) are never positive on ``X``."""
    relus = [i for i, layer in enumerate(model.layers) if isinstance(layer, ReLU)]
    alive: Dict[int, Any] = {}
    was_training = model.training
    model.eval()
    try:
        for s in range(0, X.shape[0], batch):
            h = X[s:s + batch]
            for i, layer in enumerate(model.layers):
                h = layer.forward(h)
                if i in relus:
                    seen = (h > 0).any(axis=0)
                    alive[i] = seen if i not in alive else array_module(seen).logical_or(alive[i], seen)
    finally:
        model.train(was_training)
    return [{"index": i, "after": repr(model.layers[i - 1]) if i else "the input",
             "dead": int((~to_host(alive[i])).sum()), "units": int(alive[i].size)} for i in relus]
