"""What SGD and Adam share: the parameter walk, the learning rate, and state saving."""
from __future__ import annotations

from typing import Any, Dict

import numpy as np


class Optimizer:
    def __init__(self, model: Any, lr: float) -> None:
        if not hasattr(model, "named_parameters"):
            raise TypeError(f"{type(self).__name__}: expected a model with named_parameters(), got {type(model).__name__}")
        if not lr > 0:
            raise ValueError(f"{type(self).__name__}: lr must be positive, got {lr!r}")
        self.model = model
        self.lr = float(lr)
        self.t = 0                      # number of steps taken
        self.state: Dict[str, Dict[str, Any]] = {}

    def step(self) -> None:
        self.t += 1
        for name, p, g in self.model.named_parameters():
            if g is None:
                raise RuntimeError(f"{type(self).__name__}: parameter {name!r} has no gradient; run backward() first")
            self._update(name, p, g, self.state.setdefault(name, {}))

    def _update(self, name: str, p: Any, g: Any, st: Dict[str, Any]) -> None:
        raise NotImplementedError

    def state_arrays(self) -> Dict[str, np.ndarray]:
        """Flat ``{"<param>/<slot>": array}`` for a checkpoint (on the host)."""
        return {f"{name}/{slot}": np.asarray(v.get() if hasattr(v, "get") else v)
                for name, st in self.state.items() for slot, v in st.items()}

    def load_state_arrays(self, arrays: Dict[str, np.ndarray], asarray: Any = np.asarray) -> None:
        self.state = {}
        for key, v in arrays.items():
            name, slot = key.rsplit("/", 1)
            self.state.setdefault(name, {})[slot] = asarray(v)
