"""Sliding-window primitives on image batches (B, C, H, W), written once for any array module.

``xp`` is ``numpy`` or ``cupy``: the functions use only ``zeros``/``empty``, strided slicing
and assignment, comparisons, ufuncs writing in place (``add``, ``maximum`` with ``out=``),
``reshape``, ``transpose`` and ``ascontiguousarray``, which both modules have with the same
meaning, so one implementation serves the CPU backends and the GPU one (``Backend.im2col``
and friends pass their own ``xp``).

Notation: kernel (or pool window) ``k``, stride ``s``, zero padding ``p``; the output has
``Ho = (H + 2p - k) // s + 1`` rows and ``Wo`` likewise (rows and columns that no whole window
reaches are dropped, as in PyTorch). ``x~`` is ``x`` with ``p`` zeros around each image.

- ``im2col``: ``cols[(c, i, j), (h, w, b)] = x~[b, c, s h + i, s w + j]``, shape
  (C k k, Ho Wo B). Row order (c, i, j) is that of ``W.reshape(C_out, C k k)`` for PyTorch's
  weight layout (C_out, C, k, k), so the convolution is the one matrix product ``W cols``;
  the batch index is the fastest-varying column index.
- ``col2im``: its adjoint, ``dx~[b, c, s h + i, s w + j] += dcols[(c, i, j), (h, w, b)]``,
  then the padding cropped off; windows that overlap (s < k) add up.
- ``batch_first``: moves that innermost batch axis back to the front, where the layers keep it;
  ``batch_last`` is its inverse (the convolution's ``dy`` into the layout of ``cols``).
- ``maxpool``: ``y[b, c, h, w] = max_{i, j} x[b, c, s h + i, s w + j]`` and the position
  ``t = i k + j`` of the maximum, the FIRST in row-major window order at a tie (the strict
  ``>`` below never replaces an equal value), as PyTorch picks.
- ``maxpool_backward``: ``dx[b, c, s h + i, s w + j] += dy[b, c, h, w]`` where ``t = i k + j``:
  each ``dy`` goes to exactly one input, that maximum.

Each loops over the ``k * k`` window offsets and does a whole-batch array operation per
offset: ``k * k`` passes over memory, with no Python work per pixel.
"""
from __future__ import annotations

from typing import Any, Tuple


def out_size(n: int, k: int, stride: int, padding: int) -> int:
    """Output length of a window ``k`` sliding by ``stride`` over ``n`` samples padded by ``padding``."""
    return (n + 2 * padding - k) // stride + 1


def _rows_cols(i: int, j: int, stride: int, ho: int, wo: int) -> Tuple[slice, slice]:
    """The slices ``s h + i`` (h < ho) and ``s w + j`` (w < wo): the rows and columns that the
    outputs read at window offset (i, j)."""
    return slice(i, i + stride * (ho - 1) + 1, stride), slice(j, j + stride * (wo - 1) + 1, stride)


def im2col(xp: Any, x: Any, k: int, stride: int, padding: int) -> Any:
    B, C, H, W = x.shape
    ho, wo = out_size(H, k, stride, padding), out_size(W, k, stride, padding)
    # Batch innermost, (C, H~, W~, B): each offset's slice is then made of runs of wo * B
    # contiguous numbers, not of wo, which the copies here and the adds of col2im need to be fast.
    xt = xp.zeros((C, H + 2 * padding, W + 2 * padding, B), dtype=x.dtype)
    xt[:, padding: padding + H, padding: padding + W] = x.transpose(1, 2, 3, 0)
    cols = xp.empty((C, k, k, ho, wo, B), dtype=x.dtype)
    for i in range(k):
        for j in range(k):
            rows, cs = _rows_cols(i, j, stride, ho, wo)
            cols[:, i, j] = xt[:, rows, cs]                       # X of eq. (K1)
    return cols.reshape(C * k * k, ho * wo * B)


def col2im(xp: Any, cols: Any, x_shape: Tuple[int, int, int, int], k: int, stride: int, padding: int) -> Any:
    B, C, H, W = x_shape
    ho, wo = out_size(H, k, stride, padding), out_size(W, k, stride, padding)
    cols = cols.reshape(C, k, k, ho, wo, B)
    dxt = xp.zeros((C, H + 2 * padding, W + 2 * padding, B), dtype=cols.dtype)
    for i in range(k):
        for j in range(k):
            rows, cs = _rows_cols(i, j, stride, ho, wo)
            v = dxt[:, rows, cs]
            xp.add(v, cols[:, i, j], out=v)       # eq. (K4); not v[...] +=, which then copies v onto itself
    # The padding's gradient is dropped: those zeros are constants, not inputs.
    return batch_first(xp, dxt[:, padding: padding + H, padding: padding + W])


def batch_first(xp: Any, a: Any, add: Any = None, rows: int = 64) -> Any:
    """``a`` (C, ..., B) as a C-contiguous (B, C, ...): the batch axis moved from last to
    first, plus ``add[c]`` on every number of channel ``c`` when ``add`` (C,) is given (the
    convolution's bias, added here rather than in a pass of its own over the output).

    Copied ``rows`` source rows at a time: a plain strided copy writes each output row by
    reading every B-th number of the whole source, one cache line per number, while a block
    of ``rows`` x B numbers stays in the cache while it is transposed.
    """
    shape, B = a.shape[:-1], a.shape[-1]
    src = xp.ascontiguousarray(a).reshape(-1, B)
    out = xp.empty((B, src.shape[0]), dtype=a.dtype)
    for r in range(0, src.shape[0], rows):
        out[:, r: r + rows] = src[r: r + rows].T
    out = out.reshape((B,) + tuple(shape))
    if add is not None:
        out += add.reshape((-1,) + (1,) * (len(shape) - 1))
    return out


def batch_last(xp: Any, a: Any, rows: int = 64) -> Any:
    """``a`` (B, ...) as a C-contiguous (..., B): ``batch_first``'s inverse, blocked likewise
    (``rows`` output rows at a time, each block read as B runs of ``rows`` numbers)."""
    B, shape = a.shape[0], a.shape[1:]
    src = xp.ascontiguousarray(a).reshape(B, -1)
    out = xp.empty((src.shape[1], B), dtype=a.dtype)
    for r in range(0, src.shape[1], rows):
        out[r: r + rows] = src[:, r: r + rows].T
    return out.reshape(tuple(shape) + (B,))


def maxpool(xp: Any, x: Any, k: int, stride: int) -> Tuple[Any, Any]:
    B, C, H, W = x.shape
    ho, wo = out_size(H, k, stride, 0), out_size(W, k, stride, 0)
    y = xp.array(x[(..., *_rows_cols(0, 0, stride, ho, wo))])       # a copy: updated in place below
    arg = xp.zeros(y.shape, dtype=xp.uint8 if k * k <= 256 else xp.int32)
    for t in range(1, k * k):
        v = x[(..., *_rows_cols(t // k, t % k, stride, ho, wo))]
        better = v > y                       # eq. (P1); strict: at a tie the earlier position stays
        # arg = t where better: t exceeds every position so far, so a maximum does it, and
        # in one fast pass (NumPy's masked assignment and copyto(where=) are slow loops).
        xp.maximum(arg, better * arg.dtype.type(t), out=arg)
        xp.maximum(y, v, out=y)
    return y, arg


def maxpool_backward(xp: Any, dy: Any, arg: Any, x_shape: Tuple[int, int, int, int], k: int,
                     stride: int) -> Any:
    ho, wo = dy.shape[2:]
    dx = xp.zeros(x_shape, dtype=dy.dtype)
    for t in range(k * k):
        # += : with stride < k one input can be the maximum of several windows.
        v = dx[(..., *_rows_cols(t // k, t % k, stride, ho, wo))]
        xp.add(v, dy * (arg == t), out=v)                                 # eq. (P2)
    return dx
