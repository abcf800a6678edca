"""Default training recipes per model kind, chosen on a validation split, never on the test set.

A recipe is what a model needs to train well and was checked to need: the circulant one
was picked among ``minicirc train --validation 10000`` runs, in docs/results/tuning.md.
"""
from __future__ import annotations

from typing import Any, Dict

RECIPES: Dict[str, Dict[str, Any]] = {
    # SGD with Nesterov momentum, cosine decay: the usual recipe for a dense MLP on MNIST.
    "dense": {"optimizer": "sgd", "lr": 0.1, "momentum": 0.9, "nesterov": True, "weight_decay": 0.0,
              "dropout": 0.0, "epochs": 15},
    # AdamW with light dropout: decoupled decay is what regularises a layer of n weights. lr and
    # decay are the best of the validation runs in docs/results/tuning.md (lr 5e-3, decay 0.1).
    "circulant": {"optimizer": "adamw", "lr": 5e-3, "weight_decay": 0.1, "dropout": 0.1, "epochs": 15},
    "hybrid": {"optimizer": "adamw", "lr": 1e-3, "weight_decay": 0.0, "dropout": 0.1, "epochs": 15},
    "block": {"optimizer": "adamw", "lr": 1e-3, "weight_decay": 0.0, "dropout": 0.1, "epochs": 15},
    # The LeNet trunk with a fully-connected head (build_cnn), one recipe for every head: the
    # lowest validation error averaged over the circulant and dense heads among the runs of
    # docs/results/tuning.md (lr 3e-3, no dropout). 10 epochs keep a run to a few minutes.
    "cnn": {"optimizer": "adamw", "lr": 3e-3, "weight_decay": 0.01, "dropout": 0.0, "epochs": 10},
}
