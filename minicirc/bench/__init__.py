"""Benchmarks. ``python -m minicirc.bench.layer`` times one layer's forward+backward.

PyTorch is a benchmark-only extra (``pip install minicirc[bench]``); nothing in the library
imports it.
"""

from typing import List


def int_list(text: str) -> List[int]:
    """An argparse type for comma-separated integers: ``"256,1024"`` -> ``[256, 1024]``."""
    return [int(v) for v in text.split(",") if v]
