"""The argument rules of every public constructor, stated once.

Each ``check_*`` takes the ``owner`` (the class or function, as an error names it), the
argument's ``name`` and its value, and returns the value normalised (``int``, ``float``,
``bool``, ``np.dtype``, a ``Generator``) or raises an error of the form
``"<owner>: <name> must be <rule>, got <value>"``. A value outside the rule is a
``ValueError`` (a number given as a string, NaN or a bool is a wrong value for a number);
``TypeError`` is kept for an object of another kind altogether (a dtype, a model, a layer).
"""
from __future__ import annotations

import math
import numbers
from typing import Any, Optional, Tuple

import numpy as np

_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))
_INT_MAX = np.iinfo(np.int64).max


def is_real(v: Any) -> bool:
    """A real number (Python's, NumPy's, a Fraction...), and not a bool: ``True`` is an int to
    Python, but a learning rate or a dropout rate of ``True`` is a mistake."""
    return isinstance(v, numbers.Real) and not isinstance(v, (bool, np.bool_))


def is_int(v: Any) -> bool:
    """A Python or NumPy integer, and not a bool; ``2.0`` is not one (a size is counted)."""
    return isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_))


def _as_float(v: Any) -> float:
    try:
        return float(v)
    except OverflowError:                  # an int beyond float's range: infinite for our rules
        return math.inf if v > 0 else -math.inf


def check_int(owner: str, name: str, v: Any, *, lo: int = 1) -> int:
    """An integer ``>= lo`` (``lo=1``: a positive integer; ``lo=0``: a non-negative one)."""
    if not (is_int(v) and v >= lo):
        what = {1: "a positive integer", 0: "a non-negative integer"}.get(lo, f"an integer >= {lo}")
        raise ValueError(f"{owner}: {name} must be {what}, got {v!r}")
    if v > _INT_MAX:                       # no array has that many elements along an axis
        raise ValueError(f"{owner}: {name} must be below 2**63, got {v!r}")
    return int(v)


def _describe(lo: float, hi: float, lo_open: bool, hi_open: bool) -> str:
    if hi == math.inf:
        if lo == -math.inf:
            return "a finite number"
        if lo == 0:
            return "a positive finite number" if lo_open else "a finite number >= 0"
        return f"a finite number {'>' if lo_open else '>='} {lo:g}"
    return f"a number in {'(' if lo_open else '['}{lo:g}, {hi:g}{')' if hi_open else ']'}"


def check_real(owner: str, name: str, v: Any, *, lo: float = -math.inf, hi: float = math.inf,
               lo_open: bool = False, hi_open: bool = False) -> float:
    """A finite real number (not a bool, NaN or Inf) in the interval from ``lo`` to ``hi``,
    each end excluded where ``*_open``. Returns it as a float."""
    f = _as_float(v) if is_real(v) else math.nan
    ok = math.isfinite(f) and (lo < f if lo_open else lo <= f) and (f < hi if hi_open else f <= hi)
    if not ok:
        raise ValueError(f"{owner}: {name} must be {_describe(lo, hi, lo_open, hi_open)}, got {v!r}")
    return f


def check_positive(owner: str, name: str, v: Any) -> float:
    """A finite number > 0: learning rates, ``eps``, the initialisation's ``gain``."""
    return check_real(owner, name, v, lo=0.0, lo_open=True)


def check_non_negative(owner: str, name: str, v: Any) -> float:
    """A finite number >= 0: ``weight_decay``."""
    return check_real(owner, name, v, lo=0.0)


def check_unit(owner: str, name: str, v: Any) -> float:
    """A number in [0, 1): a rate or a decay factor (dropout's ``p``, ``momentum``, a beta)."""
    return check_real(owner, name, v, lo=0.0, hi=1.0, hi_open=True)


def check_pair_unit(owner: str, name: str, v: Any) -> Tuple[float, float]:
    """Two numbers in [0, 1): Adam's ``betas``."""
    if isinstance(v, (str, bytes)) or not hasattr(v, "__len__") or len(v) != 2:
        raise ValueError(f"{owner}: {name} must be a pair of numbers (b1, b2) in [0, 1), got {v!r}")
    return check_unit(owner, f"{name}[0]", v[0]), check_unit(owner, f"{name}[1]", v[1])


def check_flag(owner: str, name: str, v: Any) -> bool:
    """True or False (NumPy's bool too); ``1`` or ``"no"`` are refused: ``"no"`` is truthy."""
    if not isinstance(v, (bool, np.bool_)):
        raise ValueError(f"{owner}: {name} must be True or False, got {v!r}")
    return bool(v)


def check_dtype(owner: str, dtype: Any, name: str = "dtype") -> np.dtype:
    """float32 or float64, given as a NumPy dtype, type or name. ``None`` is refused: NumPy
    would read it as float64."""
    try:
        d: Optional[np.dtype] = None if dtype is None else np.dtype(dtype)
    except (TypeError, ValueError):
        d = None
    if d is None or d not in _FLOATS:      # not `d not in`: NumPy finds np.dtype("float64") == None
        raise TypeError(f"{owner}: {name} must be float32 or float64, got "
                        f"{d if d is not None else repr(dtype)}")
    return d


def check_rng(owner: str, rng: Any, name: str = "rng") -> np.random.Generator:
    """``np.random.default_rng(rng)``: None, a seed (a non-negative integer, not a bool), a
    ``SeedSequence``, a bit generator or a ``Generator``."""
    if not isinstance(rng, (bool, np.bool_)):
        try:
            return np.random.default_rng(rng)
        except (TypeError, ValueError):        # NumPy's own words name neither owner nor argument
            pass
    raise ValueError(f"{owner}: {name} must be None, a seed (a non-negative integer) or a numpy "
                     f"Generator, got {rng!r}")
