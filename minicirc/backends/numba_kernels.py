"""Numba kernels behind the ``numba`` backend: spectral products, the sign flip, finiteness.

Each kernel writes into an ``out`` array that the backend allocates with NumPy (NumPy asks
for huge pages on large arrays, Numba's allocator does not, and page faults on a fresh 8 MB
output cost as much as the product itself) and keeps the dtype of its inputs: complex64 in,
complex64 out, accumulators included.

Every kernel comes twice: ``name`` is ``@njit(parallel=True)`` and ``name_serial`` plain
``@njit``, both running the same per-slice function, so the backend can keep small calls
off the thread pool (waking it costs microseconds, and on a busy machine a parallel region
waits for its slowest thread). Two dispatchers of one Python function would share one cache
entry, hence two drivers. The parallel drivers cut work into rows, and long rows into a few
slices, so that batch 1 keeps every thread busy as well as a tall batch does.

Inner loops run over slices indexed from 0: Numba then knows the index is non-negative
and vectorises the loop (``range(f0, f1)`` into the full row does not).
Batch reductions loop over the batch in order for every frequency, in both drivers, so
their result does not depend on the number of threads and needs no atomics.
"""
from __future__ import annotations

from numba import njit, prange

_PAR = dict(parallel=True, cache=True, nogil=True)
_SER = dict(cache=True, nogil=True)


@njit(cache=True)
def _slices(rows, width):
    """How many slices to cut each row into: enough for the threads when rows are few."""
    if rows >= 16:
        return 1
    return max(1, min(16, width // 1024))


@njit(cache=True)
def _unit(t, ns, width):
    """Row and column range of parallel work unit ``t`` when each row has ``ns`` slices."""
    row = t // ns
    k = t - row * ns
    return row, (width * k) // ns, (width * (k + 1)) // ns


# -- elementwise: one spectrum or sign vector against every row of a batch ------------------

@njit(**_SER)
def _mul_row(a, r, o):
    for f in range(o.shape[0]):
        o[f] = a[f] * r[f]


@njit(**_SER)
def _conj_mul_row(r, g, o):
    for f in range(o.shape[0]):
        o[f] = r[f].conjugate() * g[f]


@njit(**_PAR)
def cmul(A, R, out):
    """``out[b, f] = A[b, f] * R[f]``."""
    nb, m = A.shape
    ns = _slices(nb, m)
    for t in prange(nb * ns):
        b, f0, f1 = _unit(t, ns, m)
        _mul_row(A[b, f0:f1], R[f0:f1], out[b, f0:f1])


@njit(**_SER)
def cmul_serial(A, R, out):
    for b in range(A.shape[0]):
        _mul_row(A[b], R, out[b])


@njit(**_PAR)
def cmul_conj(R, G, out):
    """``out[b, f] = conj(R[f]) * G[b, f]``."""
    nb, m = G.shape
    ns = _slices(nb, m)
    for t in prange(nb * ns):
        b, f0, f1 = _unit(t, ns, m)
        _conj_mul_row(R[f0:f1], G[b, f0:f1], out[b, f0:f1])


@njit(**_SER)
def cmul_conj_serial(R, G, out):
    for b in range(G.shape[0]):
        _conj_mul_row(R, G[b], out[b])


@njit(**_PAR)
def sign_flip(x, s, out):
    """``out[b, j] = x[b, j] * s[j]``."""
    nb, d = x.shape
    ns = _slices(nb, d)
    for t in prange(nb * ns):
        b, j0, j1 = _unit(t, ns, d)
        _mul_row(x[b, j0:j1], s[j0:j1], out[b, j0:j1])


@njit(**_SER)
def sign_flip_serial(x, s, out):
    for b in range(x.shape[0]):
        _mul_row(x[b], s, out[b])


# -- the batch reduction -----------------------------------------------------------------------

@njit(**_SER)
def _conj_mul_sum_rows(A, G, o, f0, f1):
    """``o += sum_b conj(A[b, f0:f1]) * G[b, f0:f1]``, b in order."""
    for b in range(A.shape[0]):
        a, g = A[b, f0:f1], G[b, f0:f1]
        for f in range(f1 - f0):
            o[f] += a[f].conjugate() * g[f]


@njit(**_PAR)
def cmul_conj_sum(A, G, out):
    """``out[f] = sum_b conj(A[b, f]) * G[b, f]``, summed over b in order; ``out`` zeroed."""
    m = G.shape[1]
    ns = max(1, min(64, m // 128))
    for k in prange(ns):
        f0, f1 = (m * k) // ns, (m * (k + 1)) // ns
        _conj_mul_sum_rows(A, G, out[f0:f1], f0, f1)


@njit(**_SER)
def cmul_conj_sum_serial(A, G, out):
    _conj_mul_sum_rows(A, G, out, 0, G.shape[1])


# -- finiteness ----------------------------------------------------------------------------------

@njit(**_SER)
def _max_masked(v, mask):
    part = mask ^ mask
    for i in range(v.shape[0]):
        part = max(part, v[i] & mask)
    return part


@njit(**_PAR)
def max_exponent(bits, mask):
    """``max(bits & mask)`` over a flat integer view of a float array.

    With ``mask`` the exponent field, the result equals ``mask`` exactly when some element
    is NaN or infinite. An integer max vectorises without fast-math, which NaN tests must avoid.
    """
    size = bits.shape[0]
    ns = max(1, min(64, size // 4096))
    acc = mask ^ mask
    for k in prange(ns):
        acc = max(acc, _max_masked(bits[(size * k) // ns: (size * (k + 1)) // ns], mask))
    return acc


@njit(**_SER)
def max_exponent_serial(bits, mask):
    return _max_masked(bits, mask)


# -- block-circulant products: frequency-wise batched matrix products ---------------------------

@njit(**_SER)
def _bmm_unit(W, X, Y, b, i, f0, f1):
    y = Y[b, i, f0:f1]
    for j in range(W.shape[1]):
        w, x = W[i, j, f0:f1], X[b, j, f0:f1]
        for f in range(f1 - f0):
            y[f] += w[f] * x[f]


@njit(**_SER)
def _bmm_conj_w_unit(W, G, DX, b, j, f0, f1):
    dx = DX[b, j, f0:f1]
    for i in range(W.shape[0]):
        w, g = W[i, j, f0:f1], G[b, i, f0:f1]
        for f in range(f1 - f0):
            dx[f] += w[f].conjugate() * g[f]


@njit(**_SER)
def _bmm_conj_x_sum_unit(X, G, DW, i, j, f0, f1):
    dw = DW[i, j, f0:f1]
    for b in range(X.shape[0]):
        x, g = X[b, j, f0:f1], G[b, i, f0:f1]
        for f in range(f1 - f0):
            dw[f] += x[f].conjugate() * g[f]


@njit(**_PAR)
def bmm_freq(W, X, Y):
    """``Y[b, i, f] = sum_j W[i, j, f] * X[b, j, f]``; ``Y`` zeroed."""
    p, m = W.shape[0], W.shape[2]
    nb = X.shape[0]
    ns = _slices(nb * p, m)
    for t in prange(nb * p * ns):
        bi, f0, f1 = _unit(t, ns, m)
        _bmm_unit(W, X, Y, bi // p, bi % p, f0, f1)


@njit(**_SER)
def bmm_freq_serial(W, X, Y):
    for b in range(X.shape[0]):
        for i in range(W.shape[0]):
            _bmm_unit(W, X, Y, b, i, 0, W.shape[2])


@njit(**_PAR)
def bmm_freq_conj_w(W, G, DX):
    """``DX[b, j, f] = sum_i conj(W[i, j, f]) * G[b, i, f]``; ``DX`` zeroed."""
    q, m = W.shape[1], W.shape[2]
    nb = G.shape[0]
    ns = _slices(nb * q, m)
    for t in prange(nb * q * ns):
        bj, f0, f1 = _unit(t, ns, m)
        _bmm_conj_w_unit(W, G, DX, bj // q, bj % q, f0, f1)


@njit(**_SER)
def bmm_freq_conj_w_serial(W, G, DX):
    for b in range(G.shape[0]):
        for j in range(W.shape[1]):
            _bmm_conj_w_unit(W, G, DX, b, j, 0, W.shape[2])


@njit(**_PAR)
def bmm_freq_conj_x_sum(X, G, DW):
    """``DW[i, j, f] = sum_b conj(X[b, j, f]) * G[b, i, f]``, summed over b in order; ``DW`` zeroed."""
    q, m = X.shape[1], X.shape[2]
    p = G.shape[1]
    ns = _slices(p * q, m)
    for t in prange(p * q * ns):
        ij, f0, f1 = _unit(t, ns, m)
        _bmm_conj_x_sum_unit(X, G, DW, ij // q, ij % q, f0, f1)


@njit(**_SER)
def bmm_freq_conj_x_sum_serial(X, G, DW):
    for i in range(G.shape[1]):
        for j in range(X.shape[1]):
            _bmm_conj_x_sum_unit(X, G, DW, i, j, 0, X.shape[2])
