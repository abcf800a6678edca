"""What the optimizers share: the parameter walk, the learning rate, and state saving."""
from __future__ import annotations

from typing import Any, Dict

import numpy as np

from .._args import check_positive
from ..backends.base import to_host


class Optimizer:
    """Updates the parameters of ``model`` (a Layer, or anything with ``named_parameters()``
    and ``named_grads()`` yielding ``(name, array)`` pairs) in place at each ``step()``."""

    def __init__(self, model: Any, lr: float) -> None:
        if not (hasattr(model, "named_parameters") and hasattr(model, "named_grads")):
            raise TypeError(f"{type(self).__name__}: model must be a minicirc Layer (with "
                            f"named_parameters() and named_grads()), got {type(model).__name__}")
        self.model = model
        self.lr = check_positive(type(self).__name__, "lr", lr)
        self.t = 0                      # number of steps taken
        self.state: Dict[str, Dict[str, Any]] = {}

    def step(self) -> None:
        # Check every gradient before touching anything: a step that fails half-way would
        # leave some parameters (and t, Adam's bias correction) one step ahead of the others.
        grads = dict(self.model.named_grads())
        triples = [(name, p, grads.get(name)) for name, p in self.model.named_parameters()]
        for name, p, g in triples:
            if g is None:
                raise RuntimeError(f"{type(self).__name__}: parameter {name!r} has no gradient; run backward() first")
            if tuple(g.shape) != tuple(p.shape):
                raise ValueError(f"{type(self).__name__}: gradient of {name!r} has shape {tuple(g.shape)}, "
                                 f"expected {tuple(p.shape)}, the parameter's shape")
            # State is kept by parameter name: a layer replaced after the optimizer was built
            # would meet the old layer's moments (silently, if the shapes agree).
            for slot, v in self.state.get(name, {}).items():
                if tuple(v.shape) != tuple(p.shape):
                    raise ValueError(f"{type(self).__name__}: its state {slot!r} for {name!r} has shape "
                                     f"{tuple(v.shape)}, the parameter now {tuple(p.shape)}; the model "
                                     "changed after the optimizer was built: build a new optimizer")
        self.t += 1
        for name, p, g in triples:
            self._update(name, p, g, self.state.setdefault(name, {}))

    def _update(self, name: str, p: Any, g: Any, st: Dict[str, Any]) -> None:
        raise NotImplementedError

    def _settings(self) -> Dict[str, Any]:
        return {"lr": self.lr}

    def __repr__(self) -> str:
        settings = ", ".join(f"{k}={v!r}" for k, v in self._settings().items())
        return f"{type(self).__name__}({settings}; {self.t} steps taken)"

    def state_arrays(self) -> Dict[str, np.ndarray]:
        """Flat ``{"<param>/<slot>": array}`` for a checkpoint (on the host), and the step
        count under ``"t"`` (Adam's bias correction needs it; having no ``/``, the key
        cannot clash with a parameter's)."""
        arrays = {f"{name}/{slot}": to_host(v)
                  for name, st in self.state.items() for slot, v in st.items()}
        arrays["t"] = np.array(self.t, dtype=np.int64)
        return arrays

    def load_state_arrays(self, arrays: Dict[str, np.ndarray], asarray: Any = np.asarray) -> None:
        """The inverse of ``state_arrays``. Without ``"t"`` (a checkpoint that does not hold
        it) ``self.t`` is left as it is, for the caller to set."""
        arrays = dict(arrays)
        t = arrays.pop("t", None)
        if t is not None:
            t = np.asarray(t)
            if t.shape != () or t.dtype.kind not in "iu" or t < 0:
                raise ValueError(f"{type(self).__name__}: the step count 't' must be a non-negative "
                                 f"integer scalar, got {t.dtype} of shape {t.shape}: {t!r}")
        shapes = {name: tuple(p.shape) for name, p in self.model.named_parameters()}
        state: Dict[str, Dict[str, Any]] = {}      # built aside: a bad key changes nothing
        for key, v in arrays.items():
            if "/" not in key:
                raise ValueError(f"{type(self).__name__}: state key {key!r} is not '<parameter>/<slot>'")
            name, slot = key.rsplit("/", 1)
            if name not in shapes:
                raise ValueError(f"{type(self).__name__}: state {slot!r} for parameter {name!r}, which "
                                 "the model does not have")
            if tuple(np.shape(v)) != shapes[name]:
                raise ValueError(f"{type(self).__name__}: state {slot!r} for {name!r} has shape "
                                 f"{tuple(np.shape(v))}, the parameter {shapes[name]}")
            state.setdefault(name, {})[slot] = asarray(v)
        self.state = state
        if t is not None:
            self.t = int(t)
