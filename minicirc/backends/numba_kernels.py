"""Numba kernels behind the ``numba`` backend: spectral products, the sign flip, finiteness.

Each kernel writes into an ``out`` array that the backend allocates with NumPy (NumPy asks
for huge pages on large arrays, Numba's allocator does not, and page faults on a fresh 8 MB
output cost as much as the product itself) and keeps the dtype of its inputs: complex64 in,
complex64 out, accumulators included.

Every kernel is written once and compiled twice (``twins``): ``name`` with
``njit(parallel=True)``, whose ``prange`` loops are shared out over Numba's threads, and
``name_serial`` with plain ``njit``, where ``prange`` is ``range``. The backend keeps small
calls on the serial one, off the thread pool (waking it costs microseconds, and on a busy
machine a parallel region waits for its slowest thread). The kernels cut work into rows, and
long rows into a few slices, so that batch 1 keeps every thread busy as well as a tall batch.

Inner loops run over slices indexed from 0: Numba then knows the index is non-negative
and vectorises the loop (``range(f0, f1)`` into the full row does not).
Batch reductions loop over the batch in order for every frequency, so their result does not
depend on the number of threads (serial and parallel agree bit for bit) and needs no atomics.
"""
from __future__ import annotations

from types import FunctionType
from typing import Any, Callable, Tuple

from numba import njit, prange

_PAR = dict(parallel=True, cache=True, nogil=True)
_SER = dict(cache=True, nogil=True)


def twins(f: Callable[..., Any]) -> Tuple[Any, Any]:
    """``(parallel, serial)``: ``f`` compiled with and without ``parallel=True``.

    The serial one is compiled from a copy of ``f`` named ``<name>_serial``: Numba's on-disk
    cache keys a function by its qualified name and signature, not by its compile options, so
    two dispatchers of ``f`` itself would load each other's machine code.
    """
    copy = FunctionType(f.__code__, f.__globals__, f.__name__ + "_serial", f.__defaults__, f.__closure__)
    copy.__qualname__ = f.__qualname__ + "_serial"
    copy.__doc__ = f.__doc__
    return njit(**_PAR)(f), njit(**_SER)(copy)


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


def cmul(A, R, out):
    """``out[b, f] = A[b, f] * R[f]``."""
    nb, m = A.shape
    ns = _slices(nb, m)
    for t in prange(nb * ns):
        b, f0, f1 = _unit(t, ns, m)
        _mul_row(A[b, f0:f1], R[f0:f1], out[b, f0:f1])


cmul, cmul_serial = twins(cmul)


def cmul_conj(R, G, out):
    """``out[b, f] = conj(R[f]) * G[b, f]``."""
    nb, m = G.shape
    ns = _slices(nb, m)
    for t in prange(nb * ns):
        b, f0, f1 = _unit(t, ns, m)
        _conj_mul_row(R[f0:f1], G[b, f0:f1], out[b, f0:f1])


cmul_conj, cmul_conj_serial = twins(cmul_conj)


def sign_flip(x, s, out):
    """``out[b, j] = x[b, j] * s[j]``."""
    nb, d = x.shape
    ns = _slices(nb, d)
    for t in prange(nb * ns):
        b, j0, j1 = _unit(t, ns, d)
        _mul_row(x[b, j0:j1], s[j0:j1], out[b, j0:j1])


sign_flip, sign_flip_serial = twins(sign_flip)


# -- the rectifier: one pass each way, over flat arrays ----------------------------------------

def relu(x, y, mask):
    """``mask = x > 0``, ``y = x * mask``: the NumPy expressions' numbers, -0.0 and NaN
    included (``x * 0`` keeps a negative zero's sign and a NaN, as multiplying by False does)."""
    ns = _slices(1, x.size)
    for t in prange(ns):
        _, i0, i1 = _unit(t, ns, x.size)
        xs, ys, ms = x[i0:i1], y[i0:i1], mask[i0:i1]
        for i in range(i1 - i0):
            v = xs[i]
            m = v > 0
            ms[i] = m
            ys[i] = v if m else v * 0


relu, relu_serial = twins(relu)


def relu_backward(dy, mask, dx):
    """``dx = dy * mask``; ``dy * 0`` where the mask is off, as NumPy multiplies by False (an
    infinite ``dy`` there gives NaN in both)."""
    ns = _slices(1, dy.size)
    for t in prange(ns):
        _, i0, i1 = _unit(t, ns, dy.size)
        gs, ms, ds = dy[i0:i1], mask[i0:i1], dx[i0:i1]
        for i in range(i1 - i0):
            ds[i] = gs[i] if ms[i] else gs[i] * 0


relu_backward, relu_backward_serial = twins(relu_backward)


# -- the batch reduction -----------------------------------------------------------------------

@njit(**_SER)
def _conj_mul_sum_rows(A, G, o, f0, f1):
    """``o += sum_b conj(A[b, f0:f1]) * G[b, f0:f1]``, b in order."""
    for b in range(A.shape[0]):
        a, g = A[b, f0:f1], G[b, f0:f1]
        for f in range(f1 - f0):
            o[f] += a[f].conjugate() * g[f]


def cmul_conj_sum(A, G, out):
    """``out[f] = sum_b conj(A[b, f]) * G[b, f]``, summed over b in order; ``out`` zeroed."""
    m = G.shape[1]
    ns = max(1, min(64, m // 128))
    for k in prange(ns):
        f0, f1 = (m * k) // ns, (m * (k + 1)) // ns
        _conj_mul_sum_rows(A, G, out[f0:f1], f0, f1)


cmul_conj_sum, cmul_conj_sum_serial = twins(cmul_conj_sum)


# -- finiteness ----------------------------------------------------------------------------------

@njit(**_SER)
def _max_masked(v, mask):
    part = mask ^ mask
    for i in range(v.shape[0]):
        part = max(part, v[i] & mask)
    return part


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


max_exponent, max_exponent_serial = twins(max_exponent)


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


def bmm_freq(W, X, Y):
    """``Y[b, i, f] = sum_j W[i, j, f] * X[b, j, f]``; ``Y`` zeroed."""
    p, m = W.shape[0], W.shape[2]
    nb = X.shape[0]
    ns = _slices(nb * p, m)
    for t in prange(nb * p * ns):
        bi, f0, f1 = _unit(t, ns, m)
        _bmm_unit(W, X, Y, bi // p, bi % p, f0, f1)


bmm_freq, bmm_freq_serial = twins(bmm_freq)


def bmm_freq_conj_w(W, G, DX):
    """``DX[b, j, f] = sum_i conj(W[i, j, f]) * G[b, i, f]``; ``DX`` zeroed."""
    q, m = W.shape[1], W.shape[2]
    nb = G.shape[0]
    ns = _slices(nb * q, m)
    for t in prange(nb * q * ns):
        bj, f0, f1 = _unit(t, ns, m)
        _bmm_conj_w_unit(W, G, DX, bj // q, bj % q, f0, f1)


bmm_freq_conj_w, bmm_freq_conj_w_serial = twins(bmm_freq_conj_w)


def bmm_freq_conj_x_sum(X, G, DW):
    """``DW[i, j, f] = sum_b conj(X[b, j, f]) * G[b, i, f]``, summed over b in order; ``DW`` zeroed."""
    q, m = X.shape[1], X.shape[2]
    p = G.shape[1]
    ns = _slices(p * q, m)
    for t in prange(p * q * ns):
        ij, f0, f1 = _unit(t, ns, m)
        _bmm_conj_x_sum_unit(X, G, DW, ij // q, ij % q, f0, f1)


bmm_freq_conj_x_sum, bmm_freq_conj_x_sum_serial = twins(bmm_freq_conj_x_sum)
