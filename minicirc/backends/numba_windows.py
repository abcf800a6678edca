"""Numba kernels for the sliding-window primitives of the ``numba`` backend.

Same definitions as ``windows.py`` (read its docstring for the notation and the layouts), each
written once and compiled serial and parallel by ``twins``. Where the NumPy versions make
``k * k`` whole-array passes (one per window offset) plus a transpose, each kernel here makes
one pass and writes its output in its final layout, and the parallel twin shares that pass
out over Numba's threads. The outputs are allocated by the backend (see ``numba_kernels``).

Results equal the NumPy versions bit for bit, including where several windows add into one
pixel: every output number is summed from zero over the same terms in the same order as
there (window offset ``t = i k + j`` ascending), and each thread owns whole output rows or
planes, so no two threads add into one place and no atomics are needed.
"""
from __future__ import annotations

import numpy as np
from numba import njit, prange

from .numba_kernels import _SER, twins


def im2col(x, k, s, p, xt, cols):
    """``cols[c, i, j, h, w, b] = x~[b, c, s h + i, s w + j]``; ``x`` (B, C, H, W), ``cols``
    (C, k, k, Ho, Wo, B). First ``x~`` batch innermost into ``xt`` (C, H + 2p, W + 2p, B),
    padding zeroed, as ``windows.im2col`` lays it out; then every (Wo, B) block of ``cols``
    is copied from it in runs of B contiguous numbers (a stride-s window row), where reading
    ``x`` itself would take each number from a different cache line. Arrays are indexed, not
    sliced: a view per row costs more than copying its numbers."""
    B, C, H, W = x.shape
    hp, wp = xt.shape[1], xt.shape[2]
    ho, wo = cols.shape[3], cols.shape[4]
    for cr in prange(C * hp):
        c, r = cr // hp, cr % hp
        if r < p or r >= p + H:
            for q in range(wp):
                for b in range(B):
                    xt[c, r, q, b] = 0
            continue
        for q in range(p):
            for b in range(B):
                xt[c, r, q, b] = 0
                xt[c, r, wp - 1 - q, b] = 0
        for b in range(B):
            for q in range(W):
                xt[c, r, p + q, b] = x[b, c, r - p, q]
    kk = k * k
    for t in prange(C * kk * ho):
        c, rest = t // (kk * ho), t % (kk * ho)
        ij, h = rest // ho, rest % ho
        i, j = ij // k, ij % k
        for w in range(wo):
            for b in range(B):
                cols[c, i, j, h, w, b] = xt[c, s * h + i, s * w + j, b]


im2col, im2col_serial = twins(im2col)


def col2im(cols, k, s, p, dx):
    """``dx[b, c, u, v] = sum_{i, j} cols[c, i, j, h, w, b]`` over the windows ``(h, w)`` with
    ``s h + i = u + p`` and ``s w + j = v + p``, in (i, j) order; ``cols`` (C, k, k, Ho, Wo, B),
    ``dx`` (B, C, H, W). A gather: each unit of work sums one whole row ``(c, u)`` of ``dx``
    (all the batch), batch innermost, then writes it out."""
    B, C, H, W = dx.shape
    ho, wo = cols.shape[3], cols.shape[4]
    for cu in prange(C * H):
        c, u = cu // H, cu % H
        acc = np.zeros((W, B), dx.dtype)
        for i in range(k):
            r = u + p - i
            if r < 0:
                break
            if r % s != 0 or r // s >= ho:
                continue
            h = r // s
            for j in range(k):
                for v in range(W):
                    q = v + p - j
                    if q < 0 or q % s != 0 or q // s >= wo:
                        continue
                    w = q // s
                    for b in range(B):
                        acc[v, b] += cols[c, i, j, h, w, b]
        for b in range(B):
            for v in range(W):
                dx[b, c, u, v] = acc[v, b]


col2im, col2im_serial = twins(col2im)


def batch_first(src, add, inner, out):
    """``out[b, r] = src[r, b] (+ add[r // inner])``: (N, B) to (B, N), 64 source rows at a
    time, which stay in the cache while they are written out (see ``windows.batch_first``);
    ``add`` is empty for no addition, else one number per ``inner`` rows (a channel's)."""
    N, B = src.shape
    for t in prange((N + 63) // 64):
        r0 = t * 64
        r1 = min(N, r0 + 64)
        if add.size == 0:
            for b in range(B):
                for r in range(r0, r1):
                    out[b, r] = src[r, b]
        else:
            row_add = np.empty(r1 - r0, out.dtype)          # no division in the inner loop
            for r in range(r0, r1):
                row_add[r - r0] = add[r // inner]
            for b in range(B):
                for r in range(r0, r1):
                    out[b, r] = src[r, b] + row_add[r - r0]


batch_first, batch_first_serial = twins(batch_first)


def batch_last(src, out):
    """``out[r, b] = src[b, r]``: (B, N) to (N, B), 64 output rows at a time, read as B runs
    of 64 contiguous numbers while the block being written stays in the cache."""
    B, N = src.shape
    for t in prange((N + 63) // 64):
        r0 = t * 64
        r1 = min(N, r0 + 64)
        for b in range(B):
            for r in range(r0, r1):
                out[r, b] = src[b, r]


batch_last, batch_last_serial = twins(batch_last)


@njit(**_SER)
def _window_max(x, p, k, s, h, w):
    """Maximum and position of window (h, w) of image plane ``p``, NaN included: ``m = v``
    where ``v > m`` (recording the position) or ``v`` is NaN, as ``windows.maxpool``'s
    ``>`` and ``np.maximum`` have it (a NaN sticks, and no later ``>`` holds)."""
    m, best = x[p, s * h, s * w], 0
    for i in range(k):
        for j in range(k):
            v = x[p, s * h + i, s * w + j]
            if v > m:                                           # strict: a tie keeps the first
                m, best = v, i * k + j
            elif v != v:
                m = v
    return m, best


def maxpool(x, k, s, y, arg):
    """``y[p, h, w] = max_{i, j} x[p, s h + i, s w + j]`` and ``arg`` = ``i k + j`` of the
    first maximum in row-major window order, over image planes ``p`` (B C of them).

    The loops test only ``>``, which compiles to fast selects; a window whose numbers add up
    to NaN (it holds a NaN, or both infinities) is redone by ``_window_max``, whose NaN test
    in the loop would cost several times as much. Planes are indexed, not sliced: a pooled
    plane is often a few dozen numbers, and a view per plane would cost more than its work.
    """
    ho, wo = y.shape[1], y.shape[2]
    for p in prange(x.shape[0]):
        for h in range(ho):
            r = s * h
            if k == 2:                                          # the usual pooling, unrolled
                for w in range(wo):
                    q = s * w
                    v0, v1, v2, v3 = x[p, r, q], x[p, r, q + 1], x[p, r + 1, q], x[p, r + 1, q + 1]
                    m, best = v0, 0
                    if v1 > m:
                        m, best = v1, 1
                    if v2 > m:
                        m, best = v2, 2
                    if v3 > m:
                        m, best = v3, 3
                    total = v0 + v1 + v2 + v3
                    if total != total:
                        m, best = _window_max(x, p, k, s, h, w)
                    y[p, h, w], arg[p, h, w] = m, best
            else:
                for w in range(wo):
                    q = s * w
                    m, best, total = x[p, r, q], 0, x[p, r, q] * 0
                    for i in range(k):
                        for j in range(k):
                            v = x[p, r + i, q + j]
                            total += v
                            if v > m:
                                m, best = v, i * k + j
                    if total != total:
                        m, best = _window_max(x, p, k, s, h, w)
                    y[p, h, w], arg[p, h, w] = m, best


maxpool, maxpool_serial = twins(maxpool)


def maxpool_backward(dy, arg, k, s, dx):
    """``dx[p, s h + i, s w + j] += dy[p, h, w]`` where ``i k + j = arg[p, h, w]``, over image
    planes ``p``; each plane of ``dx`` is zeroed here, by the thread that then fills it, while
    it is in that core's cache. Windows are visited last to first: an input that is the
    maximum of several windows then collects their ``dy`` in ascending window offset, the
    order of ``windows.maxpool_backward``."""
    ho, wo = dy.shape[1], dy.shape[2]
    H, W = dx.shape[1], dx.shape[2]
    for p in prange(dy.shape[0]):
        for u in range(H):
            for v in range(W):
                dx[p, u, v] = 0
        for h in range(ho - 1, -1, -1):
            for w in range(wo - 1, -1, -1):
                t = np.int64(arg[p, h, w])
                if 0 <= t < k * k:                              # else no window position: no gradient,
                    dx[p, s * h + t // k, s * w + t % k] += dy[p, h, w]   # as in NumPy's (arg == t)


maxpool_backward, maxpool_backward_serial = twins(maxpool_backward)
