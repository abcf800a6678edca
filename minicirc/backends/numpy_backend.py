"""The reference backend: ``scipy.fft`` transforms and NumPy products.

Every other backend is tested against this one, so it stays obvious: each primitive is one
NumPy expression that reads like its docstring in ``base.py``.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import scipy.fft

from .base import Backend


class NumpyBackend(Backend):
    """scipy.fft plus NumPy. ``workers`` is passed to scipy.fft (None: one thread)."""

    name = "numpy"
    xp = np

    def __init__(self, workers: int | None = None) -> None:
        self.workers = workers

    def rfft(self, a: Any, n: int) -> Any:
        return scipy.fft.rfft(a, n=n, axis=-1, workers=self.workers)

    def irfft(self, A: Any, n: int) -> Any:
        # n= is not optional: for odd n the default length would be one sample short.
        return scipy.fft.irfft(A, n=n, axis=-1, workers=self.workers)

    def cmul(self, A: Any, B: Any) -> Any:
        return A * B

    def cmul_conj(self, A: Any, B: Any) -> Any:
        return np.conj(A) * B

    def cmul_conj_sum(self, A: Any, B: Any) -> Any:
        return np.einsum("bf,bf->f", np.conj(A), B)

    def bmm_freq(self, W: Any, X: Any) -> Any:
        return np.einsum("ijf,bjf->bif", W, X)

    def bmm_freq_conj_w(self, W: Any, G: Any) -> Any:
        return np.einsum("ijf,bif->bjf", np.conj(W), G)

    def bmm_freq_conj_x_sum(self, X: Any, G: Any) -> Any:
        return np.einsum("bjf,bif->ijf", np.conj(X), G)
