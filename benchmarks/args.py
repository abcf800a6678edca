"""The benchmarks' argparse types: each parses one value and refuses a bad one with a usage
error that names it (argparse prefixes the option)."""
from __future__ import annotations

import argparse
import math
from typing import Callable, List


def _number(kind: type, ok: Callable[[float], bool], what: str) -> Callable[[str], float]:
    def parse(text: str) -> float:
        try:
            v = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
        if not math.isfinite(v) or not ok(v):
            raise argparse.ArgumentTypeError(f"expected {what}, got {text}")
        return v
    return parse


positive_int = _number(int, lambda v: v >= 1, "a positive integer")
nonneg_int = _number(int, lambda v: v >= 0, "a non-negative integer")
nonneg_float = _number(float, lambda v: v >= 0, "a number >= 0")


def int_list(text: str) -> List[int]:
    """Comma-separated positive integers (sizes, batches, blocks): ``"256,1024"`` -> ``[256, 1024]``."""
    out = [positive_int(v.strip()) for v in text.split(",") if v.strip()]
    if not out:
        raise argparse.ArgumentTypeError(f"expected comma-separated positive integers, got {text!r}")
    return out
