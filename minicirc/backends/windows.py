"""Sliding-window primitives on image batches (B, C, H, W), written once for any array module.

``xp`` is ``numpy`` or ``cupy``: the functions use only ``zeros``/``empty``, strided slicing
and assignment, comparisons, ufuncs writing in place (``add``, ``maximum`` with ``out=``),
``reshape``, ``transpose``, ``swapaxes`` and ``ascontiguousarray``, which both modules have
with the same meaning, so one implementation serves the CPU backends and the GPU one
(``Backend.im2col`` and friends pass their own ``xp``).

Notation: kernel (or pool window) ``k``, stride ``s``, zero padding ``p``; the output has
``Ho = (H + 2p - k) // s + 1`` rows and ``Wo`` likewise (rows and columns that no whole window
reaches are dropped, as in PyTorch). ``x~`` is ``x`` with ``p`` zeros around each image.

- ``im2col``: ``cols[(c, i, j), (b, h, w)] = x~[b, c, s h + i, s w + j]``, shape
  (C k k, B Ho Wo). Row order (c, i, j) is that of ``W.reshape(C_out, C k k)`` for PyTorch's
  weight layout (C_out, C, k, k), so the convolution is the one matrix product ``W cols``;
  the column order (b, h, w) is the images' own, so each window row is copied from ``x`` as a
  run of ``Wo`` numbers (contiguous at stride 1) and ``W cols`` comes out as (C_out, B, Ho, Wo).
- ``col2im``: its adjoint, ``dx~[b, c, s h + i, s w + j] += dcols[(c, i, j), (b, h, w)]``,
  then the padding cropped off; windows that overlap (s < k) add up.
- ``swap01``: exchanges the two leading axes, (C, B, ...) to (B, C, ...) and back, in runs
  of the trailing axes' numbers (a whole Ho x Wo image): ``W cols`` to the layers' (B, C, Ho, Wo),
  with the convolution's bias added on the way, and ``dy`` to the (C_out, B Ho Wo) matrix
  whose columns line up with those of ``cols``.
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


def pad(xp: Any, x: Any, padding: int) -> Any:
    """``x~``: images ``x`` (B, C, H, W) with ``padding`` zeros around each; ``x`` itself at 0."""
    if padding == 0:
        return x
    B, C, H, W = x.shape
    xt = xp.zeros((B, C, H + 2 * padding, W + 2 * padding), dtype=x.dtype)
    xt[:, :, padding: padding + H, padding: padding + W] = x
    return xt


def im2col(xp: Any, x: Any, k: int, stride: int, padding: int) -> Any:
    B, C, H, W = x.shape
    ho, wo = out_size(H, k, stride, padding), out_size(W, k, stride, padding)
    xt = pad(xp, x, padding)
    cols = xp.empty((C, k, k, B, ho, wo), dtype=x.dtype)
    for i in range(k):
        for j in range(k):
            rows, cs = _rows_cols(i, j, stride, ho, wo)
            cols[:, i, j] = xt[:, :, rows, cs].transpose(1, 0, 2, 3)    # X of eq. (K1)
    return cols.reshape(C * k * k, B * ho * wo)


def col2im(xp: Any, cols: Any, x_shape: Tuple[int, int, int, int], k: int, stride: int, padding: int) -> Any:
    B, C, H, W = x_shape
    ho, wo = out_size(H, k, stride, padding), out_size(W, k, stride, padding)
    cols = cols.reshape(C, k, k, B, ho, wo)
    dxt = xp.zeros((B, C, H + 2 * padding, W + 2 * padding), dtype=cols.dtype)
    for i in range(k):
        for j in range(k):
            rows, cs = _rows_cols(i, j, stride, ho, wo)
            v = dxt[:, :, rows, cs]          # not v[...] += below, which copies v onto itself
            xp.add(v, cols[:, i, j].transpose(1, 0, 2, 3), out=v)          # eq. (K4)
    if padding == 0:
        return dxt
    # The padding's gradient is dropped: those zeros are constants, not inputs.
    return xp.ascontiguousarray(dxt[:, :, padding: padding + H, padding: padding + W])


def swap01(xp: Any, a: Any, add: Any = None) -> Any:
    """``a`` (N0, N1, ...) as a C-contiguous (N1, N0, ...), plus ``add[n0]`` on every number of
    ``out[:, n0]`` when ``add`` (N0,) is given (the convolution's bias per channel, added in
    this pass rather than in one of its own over the output). One strided copy, whose
    innermost runs are whole trailing planes, so it moves memory at the speed of a copy."""
    out = xp.empty((a.shape[1], a.shape[0]) + tuple(a.shape[2:]), dtype=a.dtype)
    if add is None:
        out[...] = a.swapaxes(0, 1)
    else:
        xp.add(a.swapaxes(0, 1), add.reshape((1, -1) + (1,) * (a.ndim - 2)), out=out)
    return out


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
