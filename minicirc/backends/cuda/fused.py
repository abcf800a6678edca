"""Fused elementwise kernels of a captured training step, each with its NumPy reference.

Each kernel does in one pass what the layers do in several, in the same floating-point
operations, so that it agrees with them to the bit where no reduction is involved:

- ``pad_flip``: ``u = s * pad_n(x)`` (B, n), the circulant layer's input to ``rfft`` with the
  sign flip folded into the zero-padding copy. Its adjoint, ``crop_d(s * du)``, is the
  existing ``kernels.sign_flip(du[:, :d], s[:d])`` (it reads the cropped view in place).
- ``bias_relu_dropout``: ``y = max(z + b, 0) * keep / (1 - p)`` with ``keep`` from Philox
  (``philox.py``) for ``(seed, step, layer)``, the step read from a device scalar; it caches
  ``m = keep / (1 - p) * [z + b > 0]``, all the backward needs.
- ``relu_dropout_backward``: ``dz = dy * m`` and ``db = sum_batch dz`` in one pass (a batch
  reduction in the fixed order of ``kernels.py``: repeatable, no atomics).
- ``adam_update`` / ``sgd_update``: one launch over every parameter held in one flat buffer,
  the rules of ``minicirc.optim`` (Adam, AdamW, SGD with momentum), the learning rate and the
  step count read from device scalars and Adam's bias corrections computed on the device.

The launchers take NumPy arrays (the simulator) or CuPy arrays (a GPU) as ``kernels.launch``
does, and check shapes and dtypes first, naming what is wrong.
"""
from __future__ import annotations

import functools
import math
from types import SimpleNamespace
from typing import Any, Optional, Tuple

import numba
import numpy as np
from numba import cuda

from ..base import array_module
from . import philox
from .kernels import REDUCE_COLS, REDUCE_LANES, THREADS, blocks_for, launch


@functools.lru_cache(maxsize=None)
def fused_kernels(real: Any) -> SimpleNamespace:
    """The fused kernels for one precision (float32 or float64)."""
    real = np.dtype(real)
    if real not in (np.float32, np.float64):
        raise ValueError(f"cuda fused kernels: dtype must be float32 or float64, got {real}")
    ft = numba.float32 if real == np.float32 else numba.float64
    LANES, COLS = REDUCE_LANES, REDUCE_COLS
    NSHARED = LANES * COLS
    WORDS = philox.WORDS
    mask_block, kept = philox.mask_block, philox.kept

    @cuda.jit
    def pad_flip(x, s, out):
        # out[b, j] = s[j] x[b, j] for j < d, 0 for d <= j < n
        d, n = x.shape[1], out.shape[1]
        i = cuda.grid(1)
        if i < out.shape[0] * n:
            row = i // n
            j = i - row * n
            if j < d:
                out[row, j] = s[j] * x[row, j]
            else:
                out[row, j] = ft(0)

    @cuda.jit
    def bias_relu_dropout(z, bias, has_bias, y, m, seed_lo, seed_hi, layer, step, threshold, scale):
        # Thread j owns the four elements 4j .. 4j + 3 (row-major), one Philox call for all four.
        d = z.shape[1]
        total = z.shape[0] * d
        j = cuda.grid(1)
        i0 = WORDS * j
        if i0 < total:
            w = mask_block(seed_lo, seed_hi, layer, step[0], j)
            sc = ft(scale)
            for q in range(WORDS):
                i = i0 + q
                if i < total:
                    row = i // d
                    col = i - row * d
                    a = z[row, col]
                    if has_bias:
                        a = a + bias[col]
                    # The layers' own operations: (a * [a > 0]) * (keep * scale).
                    mk = sc if (a > ft(0) and kept(w[q], threshold)) else ft(0)
                    m[row, col] = mk
                    y[row, col] = a * mk

    @cuda.jit
    def relu_dropout_backward(dy, m, dz, db):
        # dz = dy m; db[c] = sum_b dz[b, c]: block (COLS, LANES), lane l adds rows l, l + LANES, ...
        # in order, then a fixed tree adds the lanes (kernels.py's order: repeatable).
        sh = cuda.shared.array(NSHARED, dtype=ft)
        c = cuda.threadIdx.x
        lane = cuda.threadIdx.y
        col = cuda.blockIdx.x * COLS + c
        acc = ft(0)
        if col < dz.shape[1]:
            for row in range(lane, dz.shape[0], LANES):
                g = dy[row, col] * m[row, col]
                dz[row, col] = g
                acc += g
        k = lane * COLS + c
        sh[k] = acc
        cuda.syncthreads()
        h = LANES // 2
        while h > 0:
            if lane < h:
                sh[k] = sh[k] + sh[k + h * COLS]
            cuda.syncthreads()
            h //= 2
        if lane == 0 and col < dz.shape[1]:
            db[col] = sh[c]

    @cuda.jit
    def adam_update(p, g, m, v, lr, t, b1, b2, eps, wd, decoupled):
        # minicirc.optim.Adam/AdamW, each operation in the parameters' precision as NumPy does
        # it there (a Python float meets a float32 array as float32); t[0] steps taken before.
        i = cuda.grid(1)
        if i < p.shape[0]:
            pi = p[i]
            gi = g[i]
            if wd != 0.0 and not decoupled:
                gi = gi + ft(wd) * pi
            mi = m[i] * ft(b1)
            mi = mi + ft(1.0 - b1) * gi
            vi = v[i] * ft(b2)
            vi = vi + ft(1.0 - b2) * (gi * gi)
            m[i] = mi
            v[i] = vi
            tp = float(t[0] + 1)
            c1 = ft(1.0 - math.pow(b1, tp))
            c2 = ft(1.0 - math.pow(b2, tp))
            st = (mi / c1) / (ft(math.sqrt(vi / c2)) + ft(eps))
            if wd != 0.0 and decoupled:
                st = st + ft(wd) * pi
            p[i] = pi - ft(lr[0]) * st

    @cuda.jit
    def sgd_update(p, g, v, lr, mu, nesterov, wd):
        # minicirc.optim.SGD; v starts at zero, so its first step v = mu 0 + g = g, as there.
        i = cuda.grid(1)
        if i < p.shape[0]:
            pi = p[i]
            gi = g[i]
            if wd != 0.0:
                gi = gi + ft(wd) * pi
            if mu != 0.0:
                vi = v[i] * ft(mu) + gi
                v[i] = vi
                if nesterov:
                    gi = gi + ft(mu) * vi
                else:
                    gi = vi
            p[i] = pi - ft(lr[0]) * gi

    return SimpleNamespace(pad_flip=pad_flip, bias_relu_dropout=bias_relu_dropout,
                           relu_dropout_backward=relu_dropout_backward, adam_update=adam_update,
                           sgd_update=sgd_update)


# -- checks ------------------------------------------------------------------------------------

def _fail(what: str) -> None:
    raise ValueError(f"cuda fused: {what}")


def _float(a: Any, what: str, ndim: int) -> np.dtype:
    if getattr(a, "ndim", None) != ndim or a.dtype not in (np.float32, np.float64):
        _fail(f"{what} must be a {ndim}-D float32 or float64 array, got "
              f"{getattr(a, 'dtype', type(a).__name__)} of shape {getattr(a, 'shape', None)}")
    return np.dtype(a.dtype)


def _same(dt: np.dtype, *named: Tuple[str, Any]) -> None:
    for what, a in named:
        if getattr(a, "dtype", None) != dt:
            _fail(f"{what} must be {dt} like the others, got {getattr(a, 'dtype', type(a).__name__)}")


def device_scalar(a: Any, what: str, dtype: Any) -> Any:
    """``a`` if it is a one-element array of ``dtype`` (a device scalar), else a clear error."""
    if getattr(a, "shape", None) != (1,) or a.dtype != np.dtype(dtype):
        _fail(f"{what} must be a one-element {np.dtype(dtype)} array (a device scalar), got "
              f"{getattr(a, 'dtype', type(a).__name__)} of shape {getattr(a, 'shape', None)}")
    return a


def _contiguous(a: Any, what: str) -> None:
    if not a.flags.c_contiguous:
        _fail(f"{what} must be C-contiguous (the kernel writes it in place)")


# -- launchers ---------------------------------------------------------------------------------

def pad_flip(x: Any, s: Any, n: int, stream: Any = 0, out: Any = None) -> Any:
    """``s[:d] * x`` zero-padded to ``n`` columns, (B, n), for ``x`` (B, d) and ``s`` (d,) or longer."""
    dt = _float(x, "pad_flip: x", 2)
    b, d = x.shape
    if getattr(s, "ndim", None) != 1 or s.shape[0] < d:
        _fail(f"pad_flip: s must be 1-D with at least d={d} entries, got shape {getattr(s, 'shape', None)}")
    if not isinstance(n, (int, np.integer)) or n < d:
        _fail(f"pad_flip: n must be an integer >= d={d}, got {n!r}")
    s = s[:d] if s.dtype == dt else s[:d].astype(dt)
    xp = array_module(x)
    if out is None:
        out = xp.empty((b, int(n)), dt)
    elif out.shape != (b, n) or out.dtype != dt or not out.flags.c_contiguous:
        _fail(f"pad_flip: out must be C-contiguous {dt} of shape {(b, n)}, got {out.dtype} {out.shape}")
    if out.size:
        launch(fused_kernels(dt).pad_flip, (blocks_for(out.size), 1, 1), (THREADS, 1, 1), stream, 0, x, s, out)
    return out


def pad_flip_reference(x: np.ndarray, s: np.ndarray, n: int) -> np.ndarray:
    d = x.shape[1]
    out = np.zeros((x.shape[0], n), x.dtype)
    out[:, :d] = x * s[:d].astype(x.dtype)
    return out


def bias_relu_dropout(z: Any, bias: Optional[Any], p: float, seed: int, layer: int, step: Any,
                      stream: Any = 0) -> Tuple[Any, Any]:
    """``(y, m)``: ``y = max(z + bias, 0) * keep / (1 - p)`` and ``m`` the factor ``dz = dy * m``.

    ``bias`` (d,) or None; ``p`` the dropout rate (0: ReLU alone, as in evaluation); the mask
    is Philox's for ``(seed, step[0], layer)``, ``step`` a one-element int64 device array.
    """
    dt = _float(z, "bias_relu_dropout: z", 2)
    b, d = z.shape
    xp = array_module(z)
    if bias is None:
        bias_arg, has_bias = xp.zeros(1, dt), False
    else:
        if getattr(bias, "shape", None) != (d,):
            _fail(f"bias_relu_dropout: bias must have shape ({d},), got {getattr(bias, 'shape', None)}")
        _same(dt, ("bias_relu_dropout: bias", bias))
        bias_arg, has_bias = bias, True
    threshold = philox.keep_threshold(p)
    lo, hi = philox.split_seed(seed)
    layer = philox.check_layer(layer)
    device_scalar(step, "bias_relu_dropout: step", np.int64)
    y, m = xp.empty((b, d), dt), xp.empty((b, d), dt)
    if z.size:
        launch(fused_kernels(dt).bias_relu_dropout, (blocks_for(blocks_for(z.size, philox.WORDS)), 1, 1),
               (THREADS, 1, 1), stream, 0, z, bias_arg, has_bias, y, m, lo, hi, layer, step, threshold,
               1.0 / (1.0 - float(p)))
    return y, m


def bias_relu_dropout_reference(z: np.ndarray, bias: Optional[np.ndarray], p: float, seed: int, layer: int,
                                step: int) -> Tuple[np.ndarray, np.ndarray]:
    """The layers' way: ``a = z + b``, ``a * (a > 0)``, then ``* keep * float(1 / (1 - p))``."""
    dt = z.dtype
    a = z + bias if bias is not None else z.copy()
    keep = philox.keep_mask_reference(seed, step, layer, z.shape, p)
    scale = keep.astype(dt) * dt.type(1.0 / (1.0 - p))
    relu = a > 0
    return (a * relu) * scale, relu * scale


def relu_dropout_backward(dy: Any, m: Any, stream: Any = 0) -> Tuple[Any, Any]:
    """``(dz, db)``: ``dz = dy * m`` (B, d) and ``db = sum_batch dz`` (d,), one launch."""
    dt = _float(dy, "relu_dropout_backward: dy", 2)
    if getattr(m, "shape", None) != dy.shape:
        _fail(f"relu_dropout_backward: m must have dy's shape {dy.shape}, got {getattr(m, 'shape', None)}")
    _same(dt, ("relu_dropout_backward: m", m))
    xp = array_module(dy)
    b, d = dy.shape
    dz, db = xp.empty((b, d), dt), xp.zeros(d, dt)
    if b and d:
        launch(fused_kernels(dt).relu_dropout_backward, ((d + REDUCE_COLS - 1) // REDUCE_COLS, 1, 1),
               (REDUCE_COLS, REDUCE_LANES, 1), stream, 0, dy, m, dz, db)
    return dz, db


def relu_dropout_backward_reference(dy: np.ndarray, m: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    dz = dy * m
    return dz, dz.sum(axis=0)


def _flat_params(p: Any, g: Any, states: Tuple[Tuple[str, Any], ...], who: str) -> np.dtype:
    dt = _float(p, f"{who}: p", 1)
    for what, a in (("g", g),) + states:
        if getattr(a, "shape", None) != p.shape:
            _fail(f"{who}: {what} must have p's shape {p.shape}, got {getattr(a, 'shape', None)}")
    _same(dt, *((f"{who}: {w}", a) for w, a in (("g", g),) + states))
    for what, a in (("p", p),) + states:
        _contiguous(a, f"{who}: {what}")
    return dt


def adam_update(p: Any, g: Any, m: Any, v: Any, lr: Any, t: Any, *, betas: Tuple[float, float],
                eps: float, weight_decay: float, decoupled: bool, stream: Any = 0) -> None:
    """One Adam (``decoupled=False``) or AdamW step over the flat buffers ``p``, ``g``, ``m``, ``v``, in place.

    ``lr`` a one-element float64 device array; ``t`` a one-element int64 one holding the steps
    taken before this one (the caller advances it after, as ``Optimizer.step`` does before).
    """
    dt = _flat_params(p, g, (("m", m), ("v", v)), "adam_update")
    device_scalar(lr, "adam_update: lr", np.float64)
    device_scalar(t, "adam_update: t", np.int64)
    b1, b2 = (float(b) for b in betas)
    if p.size:
        launch(fused_kernels(dt).adam_update, (blocks_for(p.size), 1, 1), (THREADS, 1, 1), stream, 0,
               p, g, m, v, lr, t, b1, b2, float(eps), float(weight_decay), bool(decoupled))


def sgd_update(p: Any, g: Any, v: Any, lr: Any, *, momentum: float, nesterov: bool, weight_decay: float,
               stream: Any = 0) -> None:
    """One SGD step (momentum buffer ``v``, zero before the first) over flat buffers, in place."""
    dt = _flat_params(p, g, (("v", v),), "sgd_update")
    device_scalar(lr, "sgd_update: lr", np.float64)
    if p.size:
        launch(fused_kernels(dt).sgd_update, (blocks_for(p.size), 1, 1), (THREADS, 1, 1), stream, 0,
               p, g, v, lr, float(momentum), bool(nesterov), float(weight_decay))


__all__ = ["fused_kernels", "pad_flip", "pad_flip_reference", "bias_relu_dropout",
           "bias_relu_dropout_reference", "relu_dropout_backward", "relu_dropout_backward_reference",
           "adam_update", "sgd_update", "device_scalar"]
