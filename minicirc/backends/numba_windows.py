"""Numba kernels for the sliding-window primitives of the ``numba`` backend.

Same definitions as ``windows.py`` (read its docstring for the notation and the layouts), each
written once and compiled serial and parallel by ``twins``. Where the NumPy versions make
``k * k`` whole-array passes (one per window offset), each kernel here makes one pass (after
the same zero-padded copy of the images, for a convolution with padding) and writes its
output in its final layout, and the parallel twin shares that pass out over Numba's threads.
The outputs are allocated by the backend (see ``numba_kernels``).

Results equal the NumPy versions bit for bit, including where several windows add into one
pixel: every output number is summed from zero over the same terms in the same order as
there (window offset ``t = i k + j`` ascending), and each thread owns whole output rows or
planes, so no two threads add into one place and no atomics are needed.
"""
from __future__ import annotations

import numpy as np
from numba import njit, prange

from .numba_kernels import _SER, twins


def im2col(xt, k, s, cols):
    """``cols[c, i, j, b, h, w] = xt[b, c, s h + i, s w + j]``; ``xt`` (B, C, H~, W~) the
    images already padded, ``cols`` (C, k, k, B, Ho, Wo). Stride 1 has a loop of its own, in
    which ``s`` does not appear: each window row is then a run of ``Wo`` contiguous numbers
    that LLVM copies with vector loads, where a stride known only at run time makes every
    number a load of its own (several times slower on the MNIST CNN's shapes)."""
    B, C = xt.shape[0], xt.shape[1]
    ho, wo = cols.shape[4], cols.shape[5]
    for cb in prange(C * B):
        c, b = cb // B, cb % B
        # i and j come from range(), not from a division: Numba then knows them non-negative
        # and drops its negative-index test from the inner loops, which then vectorise.
        for i in range(k):
            for j in range(k):
                if s == 1:
                    for h in range(ho):
                        for w in range(wo):
                            cols[c, i, j, b, h, w] = xt[b, c, h + i, w + j]
                else:
                    for h in range(ho):
                        for w in range(wo):
                            cols[c, i, j, b, h, w] = xt[b, c, s * h + i, s * w + j]


im2col, im2col_serial = twins(im2col)


def col2im(cols, k, s, dxt):
    """``dxt[b, c, s h + i, s w + j] += cols[c, i, j, b, h, w]``, each image plane zeroed first
    and summed in window offset order (i, j) ascending, as ``windows.col2im``; ``cols``
    (C, k, k, B, Ho, Wo), ``dxt`` (B, C, H~, W~) the padded images' gradient. Each unit of
    work owns one image ``b``; each of its planes stays in the cache while its k k windows
    add into it. Stride 1 has its own loop, as in ``im2col``."""
    B, C = dxt.shape[0], dxt.shape[1]
    ho, wo = cols.shape[4], cols.shape[5]
    for b in prange(B):
        for c in range(C):
            for u in range(dxt.shape[2]):
                for v in range(dxt.shape[3]):
                    dxt[b, c, u, v] = 0
            for i in range(k):
                for j in range(k):
                    if s == 1:
                        for h in range(ho):
                            for w in range(wo):
                                dxt[b, c, h + i, w + j] += cols[c, i, j, b, h, w]
                    else:
                        for h in range(ho):
                            for w in range(wo):
                                dxt[b, c, s * h + i, s * w + j] += cols[c, i, j, b, h, w]


col2im, col2im_serial = twins(col2im)


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


@njit(**_SER)
def _max4(v0, v1, v2, v3):
    """Maximum of a 2 x 2 window read row by row, its first position, and the window's sum
    (NaN when the window holds a NaN, or both infinities)."""
    m, best = v0, 0
    if v1 > m:
        m, best = v1, 1
    if v2 > m:
        m, best = v2, 2
    if v3 > m:
        m, best = v3, 3
    return m, best, v0 + v1 + v2 + v3


def maxpool(x, k, s, y, arg):
    """``y[p, h, w] = max_{i, j} x[p, s h + i, s w + j]`` and ``arg`` = ``i k + j`` of the
    first maximum in row-major window order, over image planes ``p`` (B C of them).

    The loops test only ``>``, which compiles to fast selects; a row of windows one of whose
    numbers add up to NaN (it holds a NaN, or both infinities) is redone by ``_window_max``,
    whose NaN test in the loop would cost several times as much, and whose call there would
    keep LLVM from vectorising the row. The usual 2 x 2 window with stride 2 has a loop in
    which the stride is the constant 2, so the loads are vector loads (several times faster
    on the MNIST CNN's first pooling than with the stride known only at run time). Planes are
    indexed, not sliced: a pooled plane is often a few dozen numbers, and a view per plane
    would cost more than its work.
    """
    ho, wo = y.shape[1], y.shape[2]
    for p in prange(x.shape[0]):
        for h in range(ho):
            nan = False
            if k == 2 and s == 2:
                for w in range(wo):
                    m, best, total = _max4(x[p, 2 * h, 2 * w], x[p, 2 * h, 2 * w + 1],
                                           x[p, 2 * h + 1, 2 * w], x[p, 2 * h + 1, 2 * w + 1])
                    nan |= total != total
                    y[p, h, w], arg[p, h, w] = m, best
            elif k == 2:
                for w in range(wo):
                    m, best, total = _max4(x[p, s * h, s * w], x[p, s * h, s * w + 1],
                                           x[p, s * h + 1, s * w], x[p, s * h + 1, s * w + 1])
                    nan |= total != total
                    y[p, h, w], arg[p, h, w] = m, best
            else:
                for w in range(wo):
                    m, best, total = x[p, s * h, s * w], 0, x[p, s * h, s * w] * 0
                    for i in range(k):
                        for j in range(k):
                            v = x[p, s * h + i, s * w + j]
                            total += v
                            if v > m:
                                m, best = v, i * k + j
                    nan |= total != total
                    y[p, h, w], arg[p, h, w] = m, best
            if nan:
                for w in range(wo):
                    y[p, h, w], arg[p, h, w] = _window_max(x, p, k, s, h, w)


maxpool, maxpool_serial = twins(maxpool)


def maxpool_backward(dy, arg, k, s, dx):
    """``dx[p, s h + i, s w + j] += dy[p, h, w]`` where ``i k + j = arg[p, h, w]``, over image
    planes ``p``; each plane of ``dx`` is zeroed here, by the thread that then fills it, while
    it is in that core's cache. Windows are visited last to first: an input that is the
    maximum of several windows then collects their ``dy`` in ascending window offset, the
    order of ``windows.maxpool_backward``.

    The usual 2 x 2 window with stride 2 has a loop of its own: its windows do not overlap,
    so each one writes its four inputs outright (``0 + dy`` at the arg-max, as the sum from
    zero gives, and 0 elsewhere), in one pass with constant strides and no zeroing pass."""
    ho, wo = dy.shape[1], dy.shape[2]
    H, W = dx.shape[1], dx.shape[2]
    for p in prange(dy.shape[0]):
        if k == 2 and s == 2:
            for h in range(ho):
                for w in range(wo):
                    t, g = arg[p, h, w], dy[p, h, w] + 0        # + 0: -0.0 becomes 0.0, as 0 + dy
                    dx[p, 2 * h, 2 * w] = g if t == 0 else 0
                    dx[p, 2 * h, 2 * w + 1] = g if t == 1 else 0
                    dx[p, 2 * h + 1, 2 * w] = g if t == 2 else 0
                    dx[p, 2 * h + 1, 2 * w + 1] = g if t == 3 else 0
                for v in range(2 * wo, W):                      # an odd width's last column
                    dx[p, 2 * h, v] = 0
                    dx[p, 2 * h + 1, v] = 0
            for u in range(2 * ho, H):                          # an odd height's last row
                for v in range(W):
                    dx[p, u, v] = 0
            continue
        for u in range(H):
            for v in range(W):
                dx[p, u, v] = 0
        for h in range(ho - 1, -1, -1):
            for w in range(wo - 1, -1, -1):
                t = np.int64(arg[p, h, w])
                if 0 <= t < k * k:                              # else no window position: no gradient,
                    dx[p, s * h + t // k, s * w + t % k] += dy[p, h, w]   # as in NumPy's (arg == t)


maxpool_backward, maxpool_backward_serial = twins(maxpool_backward)
