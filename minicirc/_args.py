"""Argument checks shared by the layers, the optimizers and the training settings."""
from __future__ import annotations

import numbers
from typing import Any

import numpy as np


def is_real(v: Any) -> bool:
    """A real number (Python's, NumPy's, a Fraction...), and not a bool: ``True`` is an int to
    Python, but a learning rate or a dropout rate of ``True`` is a mistake."""
    return isinstance(v, numbers.Real) and not isinstance(v, (bool, np.bool_))
