"""Benchmarks. ``python -m minicirc.bench.layer`` times one layer's forward+backward.

PyTorch is a benchmark-only extra (``pip install minicirc[bench]``); nothing in the library
imports it.
"""
