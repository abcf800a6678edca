"""Numba kernels behind the ``numba`` backend: spectral products, the sign flip, finiteness.

Each kernel writes into an ``out`` array that the backend allocates with NumPy (NumPy asks
the kernel for huge pages on large arrays, Numba's allocator does not, and page faults on
a fresh 8 MB output cost as much as the product itself) and keeps the dtype of its inputs:
complex64 in, complex64 out, accumulators included.

Parallel work is split into rows, and long rows into a few slices (``_slices``), so that
batch 1 keeps every thread busy as well as a tall batch does. Inner loops run over slices
indexed from 0: Numba then knows the index is non-negative and vectorises the loop (a
``range(f0, f1)`` index into the full row does not vectorise and runs 4x slower).
Batch reductions loop over the batch in order for every frequency, so their result does
not depend on the number of threads, and need no atomics.
"""
from __future__ import annotations

import numpy as np
from numba import njit, prange

_opts = dict(parallel=True, cache=True, nogil=True)


@njit(inline="always")
def _slices(rows, width):
    """How many slices to cut each row into: enough for the threads when rows are few."""
    if rows >= 16:
        return 1
    return max(1, min(16, width // 1024))


@njit(**_opts)
def cmul(A, R, out):
    """``out[b, f] = A[b, f] * R[f]``."""
    nb, m = A.shape
    ns = _slices(nb, m)
    for t in prange(nb * ns):
        b = t // ns
        k = t - b * ns
        f0, f1 = (m * k) // ns, (m * (k + 1)) // ns
        a, r, o = A[b, f0:f1], R[f0:f1], out[b, f0:f1]
        for f in range(f1 - f0):
            o[f] = a[f] * r[f]


@njit(**_opts)
def cmul_conj(R, G, out):
    """``out[b, f] = conj(R[f]) * G[b, f]``."""
    nb, m = G.shape
    ns = _slices(nb, m)
    for t in prange(nb * ns):
        b = t // ns
        k = t - b * ns
        f0, f1 = (m * k) // ns, (m * (k + 1)) // ns
        r, g, o = R[f0:f1], G[b, f0:f1], out[b, f0:f1]
        for f in range(f1 - f0):
            o[f] = r[f].conjugate() * g[f]


@njit(**_opts)
def cmul_conj_sum(A, G, out):
    """``out[f] = sum_b conj(A[b, f]) * G[b, f]``, summed over b in order; ``out`` zeroed."""
    nb, m = G.shape
    ns = max(1, min(64, m // 128))
    for k in prange(ns):
        f0, f1 = (m * k) // ns, (m * (k + 1)) // ns
        o = out[f0:f1]
        for b in range(nb):
            a, g = A[b, f0:f1], G[b, f0:f1]
            for f in range(f1 - f0):
                o[f] += a[f].conjugate() * g[f]


@njit(**_opts)
def sign_flip(x, s, out):
    """``out[b, j] = x[b, j] * s[j]``."""
    nb, d = x.shape
    ns = _slices(nb, d)
    for t in prange(nb * ns):
        b = t // ns
        k = t - b * ns
        j0, j1 = (d * k) // ns, (d * (k + 1)) // ns
        v, w, o = x[b, j0:j1], s[j0:j1], out[b, j0:j1]
        for j in range(j1 - j0):
            o[j] = v[j] * w[j]


@njit(**_opts)
def max_exponent(bits, mask):
    """``max(bits & mask)`` over a flat integer view of a float array.

    With ``mask`` the exponent field, the result equals ``mask`` exactly when some element
    is NaN or infinite. An integer max vectorises without fast-math, which NaN tests must avoid.
    """
    size = bits.shape[0]
    ns = max(1, min(64, size // 4096))
    acc = mask ^ mask
    for k in prange(ns):
        v = bits[(size * k) // ns: (size * (k + 1)) // ns]
        part = mask ^ mask
        for i in range(v.shape[0]):
            part = max(part, v[i] & mask)
        acc = max(acc, part)
    return acc


@njit(**_opts)
def bmm_freq(W, X, Y):
    """``Y[b, i, f] = sum_j W[i, j, f] * X[b, j, f]``; ``Y`` zeroed."""
    p, q, m = W.shape
    nb = X.shape[0]
    ns = _slices(nb * p, m)
    for t in prange(nb * p * ns):
        bi = t // ns
        k = t - bi * ns
        b, i = bi // p, bi % p
        f0, f1 = (m * k) // ns, (m * (k + 1)) // ns
        y = Y[b, i, f0:f1]
        for j in range(q):
            w, x = W[i, j, f0:f1], X[b, j, f0:f1]
            for f in range(f1 - f0):
                y[f] += w[f] * x[f]


@njit(**_opts)
def bmm_freq_conj_w(W, G, DX):
    """``DX[b, j, f] = sum_i conj(W[i, j, f]) * G[b, i, f]``; ``DX`` zeroed."""
    p, q, m = W.shape
    nb = G.shape[0]
    ns = _slices(nb * q, m)
    for t in prange(nb * q * ns):
        bj = t // ns
        k = t - bj * ns
        b, j = bj // q, bj % q
        f0, f1 = (m * k) // ns, (m * (k + 1)) // ns
        dx = DX[b, j, f0:f1]
        for i in range(p):
            w, g = W[i, j, f0:f1], G[b, i, f0:f1]
            for f in range(f1 - f0):
                dx[f] += w[f].conjugate() * g[f]


@njit(**_opts)
def bmm_freq_conj_x_sum(X, G, DW):
    """``DW[i, j, f] = sum_b conj(X[b, j, f]) * G[b, i, f]``, summed over b in order; ``DW`` zeroed."""
    nb, q, m = X.shape
    p = G.shape[1]
    ns = _slices(p * q, m)
    for t in prange(p * q * ns):
        ij = t // ns
        k = t - ij * ns
        i, j = ij // q, ij % q
        f0, f1 = (m * k) // ns, (m * (k + 1)) // ns
        dw = DW[i, j, f0:f1]
        for b in range(nb):
            x, g = X[b, j, f0:f1], G[b, i, f0:f1]
            for f in range(f1 - f0):
                dw[f] += x[f].conjugate() * g[f]
