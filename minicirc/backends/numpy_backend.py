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

    def irfft(self, A: Any, n: int, *, overwrite: bool = False) -> Any:
        # n= is not optional: for odd n the default length would be one sample short.
        return scipy.fft.irfft(A, n=n, axis=-1, workers=self.workers, overwrite_x=overwrite)

    def cmul(self, A: Any, B: Any) -> Any:
        return A * B

    def cmul_conj(self, A: Any, B: Any) -> Any:
        return np.conj(A) * B

    def cmul_conj_sum(self, A: Any, B: Any) -> Any:
        return np.einsum("bf,bf->f", np.conj(A), B)

    # The block products are one small complex matrix product per frequency f. einsum states
    # them plainly ("ijf,bjf->bif") but does not call BLAS; matmul over a frequency-major
    # view does, which is why these use it. Each line below equals the einsum in
    # its docstring (base.py); tests/test_block_circulant.py checks it against the matrix.

    def bmm_freq(self, W: Any, X: Any) -> Any:
        # (m, p, q) @ (m, q, b) -> (m, p, b) -> (b, p, m)
        return np.matmul(W.transpose(2, 0, 1), X.transpose(2, 1, 0)).transpose(2, 1, 0)

    def bmm_freq_conj_w(self, W: Any, G: Any) -> Any:
        # (m, q, p)^* @ (m, p, b) -> (m, q, b) -> (b, q, m)
        return np.matmul(W.transpose(2, 1, 0).conj(), G.transpose(2, 1, 0)).transpose(2, 1, 0)

    def bmm_freq_conj_x_sum(self, X: Any, G: Any) -> Any:
        # (m, p, b) @ (m, b, q)^* -> (m, p, q) -> (p, q, m): the batch sum is the inner dimension
        return np.matmul(G.transpose(2, 1, 0), X.transpose(2, 0, 1).conj()).transpose(1, 2, 0)
