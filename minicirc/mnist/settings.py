"""The rules a training setting must meet, and ``setting``, which declares one.

Each rule is written once and used twice: ``check`` takes a value from Python (``TrainConfig``)
and ``parse`` a word from the command line (an argparse ``type``), and both refuse with the
same words, ``what`` the value must be. ``setting(default, rule, help)`` declares a field of
``TrainConfig`` with everything the command line needs to offer it as an option, so that a
setting's type, range, default and help are written in one place (``config.py``).
"""
from __future__ import annotations

import argparse
import math
import os
from dataclasses import field
from typing import Any, Callable, Optional, Tuple

import numpy as np

from .._args import is_real


class Invalid(ValueError):
    """A value that breaks its rule."""


class Number:
    """A finite real number for which ``ok`` holds; with ``integer``, also a whole one."""

    def __init__(self, what: str, ok: Callable[[float], bool], integer: bool = False) -> None:
        self.what, self.ok, self.integer = what, ok, integer

    def needs_whole(self, v: Any) -> bool:
        """Whether ``v`` must be a whole number (and becomes an int)."""
        return self.integer

    def check(self, v: Any) -> Any:
        # 15.0 epochs is 15 (the value, not its type, must be whole); 2.5 is refused, never
        # rounded. Booleans are refused: True is an int to Python, but a width of True is a slip.
        if not is_real(v) or not math.isfinite(v) or not self.ok(v):
            raise Invalid(self.what)
        whole = self.needs_whole(v)
        if whole and not float(v).is_integer():
            raise Invalid(self.what)
        return int(v) if whole else float(v)

    def parse(self, text: str) -> Any:
        try:
            v = int(text) if self.integer else float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {self.what}, got {text!r}") from None
        try:
            return self.check(v)
        except Invalid:
            raise argparse.ArgumentTypeError(f"expected {self.what}, got {text}") from None


class CountOrFraction(Number):
    """A count of items (a whole number) or a fraction of them in [0, 1)."""

    def __init__(self) -> None:
        super().__init__("a count or a fraction in (0, 1)", lambda v: v >= 0)

    def needs_whole(self, v: Any) -> bool:
        return v >= 1 or float(v).is_integer()      # 1.5 is neither a count nor a fraction


class Choice:
    """One of ``options`` (the command line offers them as argparse ``choices``)."""

    def __init__(self, options: Tuple[str, ...], what: Optional[str] = None,
                 normalise: Callable[[Any], Any] = lambda v: v) -> None:
        self.options, self.normalise = tuple(options), normalise
        self.what = what or f"one of {', '.join(self.options)}"

    def check(self, v: Any) -> Any:
        try:
            v = self.normalise(v)
        except TypeError:
            raise Invalid(self.what) from None
        if v not in self.options:
            raise Invalid(self.what)
        return v


class Flag:
    """True or False (``train("no")`` would be truthy; a flag must be a bool)."""

    what = "True or False"

    def check(self, v: Any) -> bool:
        if not isinstance(v, (bool, np.bool_)):
            raise Invalid(self.what)
        return bool(v)


class PathRule:
    """A path: a string or an ``os.PathLike``, kept as a string (it is written into JSON)."""

    what = "a path"

    def check(self, v: Any) -> str:
        if not isinstance(v, (str, os.PathLike)):
            raise Invalid(self.what)
        return os.fspath(v)


POSITIVE_INT = Number("a positive integer", lambda v: v >= 1, integer=True)
NONNEG_INT = Number("a non-negative integer", lambda v: v >= 0, integer=True)
POSITIVE = Number("a positive number", lambda v: v > 0)
NONNEG = Number("a number >= 0", lambda v: v >= 0)
FRACTION = Number("a number in [0, 1)", lambda v: 0 <= v < 1)
FLAG = Flag()
PATH = PathRule()


def require(rule: Any, name: str, v: Any, error: type = ValueError, prefix: str = "") -> Any:
    """``rule.check(v)``, or ``error`` saying ``<prefix><name> must be <what>, got <v>``."""
    try:
        return rule.check(v)
    except Invalid:
        raise error(f"{prefix}{name} must be {rule.what}, got {v!r}") from None


def setting(default: Any, rule: Any, help: str, *, group: str, no_help: Optional[str] = None) -> Any:
    """A ``TrainConfig`` field: its default, its rule, and its command-line help and group.

    ``None`` as the default means "the model kind's recipe" (or its size, for ``hidden``,
    ``layers`` and ``head``) and passes the rule. A flag (a
    ``FLAG`` rule) appears on the command line as ``--no-NAME`` when its default is True; with
    the default None, as ``--NAME`` and ``--no-NAME`` (``no_help`` says what the latter does).
    """
    return field(default=default, metadata={"rule": rule, "help": help, "group": group,
                                            "no_help": no_help})
