"""The numba backend's window kernels (numba_windows.py) against the NumPy primitives.

Each kernel runs serial and parallel (kernel_min=0 forces the kernels at every size) on
random images of odd and even sizes, and must give the NumPy primitive's numbers bit for bit:
the kernels sum the same terms in the same order, so anything short of equality is a bug.
Max pooling is also checked on inputs full of ties (the arg-max must be the first maximum,
as NumPy's) and of NaNs and infinities. The counting test makes sure the kernels really
ran, since a fallback to NumPy would pass every comparison here.
"""
from __future__ import annotations

import numpy as np
import pytest

from minicirc import Conv2D, Flatten, MaxPool2D, ReLU, Sequential
from minicirc.backends import numba_backend
from minicirc.backends.numba_backend import NumbaBackend
from minicirc.backends.numpy_backend import NumpyBackend

REF = NumpyBackend()
SERIAL = NumbaBackend(workers=1, kernel_min=0)
PARALLEL = NumbaBackend(workers=2, kernel_min=0, kernel_parallel_min=0)
KERNELS = ("im2col", "col2im", "maxpool", "maxpool_backward")
SHAPES = [(1, 1, 5, 5), (3, 2, 7, 8), (2, 3, 8, 6)]       # (B, C, H, W), odd and even sides
# every (shape, k, stride, padding) where a whole window fits the padded image
CONV = [(shape, k, s, p) for shape in SHAPES for k in (1, 2, 3, 5) for s in (1, 2) for p in (0, 1, 2)
        if min(shape[2:]) + 2 * p >= k]
POOL = [(shape, k, s) for shape in SHAPES for k in (1, 2, 3, 5) for s in (1, 2) if min(shape[2:]) >= k]


@pytest.fixture(params=["serial", "parallel"])
def bk(request):
    return SERIAL if request.param == "serial" else PARALLEL


def same(got, want):
    assert got.dtype == want.dtype, f"dtype {got.dtype}, reference {want.dtype}"
    assert got.shape == want.shape, f"shape {got.shape}, reference {want.shape}"
    np.testing.assert_array_equal(got, want)


def images(rng, shape, dtype):
    return rng.standard_normal(shape).astype(dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape, k, stride, padding", CONV)
def test_im2col_and_col2im_match_numpy(bk, dtype, shape, k, stride, padding):
    rng = np.random.default_rng(k * 100 + stride * 10 + padding)
    x = images(rng, shape, dtype)
    cols = bk.im2col(x, k, stride, padding)
    same(cols, REF.im2col(x, k, stride, padding))
    dcols = images(rng, cols.shape, dtype)
    # overlapping windows (stride < k) add several columns into one pixel: same order, same sum
    same(bk.col2im(dcols, shape, k, stride, padding), REF.col2im(dcols, shape, k, stride, padding))


def pool_both(bk, x, k, stride, dtype):
    """Forward and backward of the kernel and the reference; the backward on the reference's
    arg-max so that a wrong arg-max shows in the forward test, not twice."""
    y, arg = bk.maxpool(x, k, stride)
    y0, arg0 = REF.maxpool(x, k, stride)
    same(y, y0)
    same(arg, arg0)
    dy = images(np.random.default_rng(7), y0.shape, dtype)
    same(bk.maxpool_backward(dy, arg0, x.shape, k, stride),
         REF.maxpool_backward(dy, arg0, x.shape, k, stride))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape, k, stride", POOL)
def test_maxpool_matches_numpy(bk, dtype, shape, k, stride):
    pool_both(bk, images(np.random.default_rng(k + stride), shape, dtype), k, stride, dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("k, stride", [(2, 2), (2, 1), (3, 1), (3, 2), (5, 2)])
def test_maxpool_ties_take_the_first_maximum(bk, dtype, k, stride):
    # three values only: most windows hold several equal maxima; stride < k also sends
    # several windows' dy to one input
    x = np.random.default_rng(k).integers(0, 3, (3, 2, 9, 8)).astype(dtype)
    pool_both(bk, x, k, stride, dtype)
    y, arg = bk.maxpool(np.zeros((1, 1, 9, 8), dtype), k, stride)
    assert not arg.any(), "all-equal windows must pick position 0"


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("k, stride", [(2, 2), (3, 1)])
def test_maxpool_nan_and_inf_as_numpy(bk, dtype, k, stride):
    x = np.random.default_rng(3).standard_normal((2, 2, 8, 9)).astype(dtype)
    flat = x.reshape(-1)
    flat[::7], flat[3::11], flat[5::13] = np.nan, np.inf, -np.inf
    y, arg = bk.maxpool(x, k, stride)
    y0, arg0 = REF.maxpool(x, k, stride)
    np.testing.assert_array_equal(y, y0)              # NaN where NumPy has NaN
    same(arg, arg0)


def test_large_windows_keep_an_int32_arg_max(bk):
    # 17 x 17 = 289 positions do not fit a uint8
    x = images(np.random.default_rng(0), (2, 1, 17, 18), np.float32)
    pool_both(bk, x, 17, 1, np.float32)
    assert bk.maxpool(x, 17, 1)[1].dtype == np.int32


def test_unfit_inputs_fall_back_to_numpy(bk):
    rng = np.random.default_rng(0)
    x = images(rng, (3, 2, 8, 10), np.float64)[..., ::2]          # not contiguous
    same(bk.im2col(x, 3, 1, 1), REF.im2col(x, 3, 1, 1))
    pool_both(bk, x, 2, 2, np.float64)
    h = images(rng, (2, 2, 6, 6), np.float16)                    # no kernel for float16
    same(bk.im2col(h, 3, 1, 0), REF.im2col(h, 3, 1, 0))
    same(bk.maxpool(h, 2, 2)[0], REF.maxpool(h, 2, 2)[0])
    small = NumbaBackend()                                       # below kernel_min: NumPy
    same(small.maxpool(x, 2, 2)[1], REF.maxpool(x, 2, 2)[1])


def test_arguments_the_kernels_cannot_take_get_numpys_answer(bk):
    # the kernels index without bounds checks: shapes that do not fit must never reach them
    rng = np.random.default_rng(1)
    x = images(rng, (2, 3, 6, 6), np.float32)
    y, arg = REF.maxpool(x, 2, 2)
    dy = images(rng, y.shape, np.float32)
    with pytest.raises(ValueError):
        bk.maxpool_backward(dy, arg, (2, 4, 6, 6), 2, 2)       # 4 channels against dy's 3
    with pytest.raises(ValueError):
        bk.maxpool_backward(dy, arg, (2, 3, 6), 2, 2)
    # 9x9 images have 4x4 windows, not dy's 3x3; NumPy fills what dy reaches, so must this
    same(bk.maxpool_backward(dy, arg, (2, 3, 9, 9), 2, 2), REF.maxpool_backward(dy, arg, (2, 3, 9, 9), 2, 2))
    bad = arg.copy()
    bad.reshape(-1)[::3] = 200                       # no position of a 2x2 window: no gradient
    same(bk.maxpool_backward(dy, bad, x.shape, 2, 2), REF.maxpool_backward(dy, bad, x.shape, 2, 2))
    cols = REF.im2col(x, 3, 1, 0)
    with pytest.raises(ValueError):
        bk.col2im(cols, (2, 3, 7, 7), 3, 1, 0)           # cols of 6x6 images, not 7x7


def trunk(backend, dtype, stride, padding):
    c = dict(backend=backend, dtype=dtype)
    return Sequential(Conv2D(2, 4, 3, stride=stride, padding=padding, rng=0, **c), ReLU(**c),
                      MaxPool2D(2, **c), Conv2D(4, 3, 2, rng=1, **c), ReLU(**c),
                      MaxPool2D(3, stride=1, **c), Flatten(**c))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("stride, padding", [(1, 0), (2, 1), (1, 2)])
def test_conv_pool_layers_on_numba_match_numpy(bk, dtype, stride, padding):
    rng = np.random.default_rng(stride + padding)
    x = images(rng, (3, 2, 17, 16), dtype)
    ref, got = trunk(REF, dtype, stride, padding), trunk(bk, dtype, stride, padding)
    y0, y = ref.forward(x), got.forward(x)
    same(y, y0)
    dy = images(rng, y0.shape, dtype)
    same(got.backward(dy), ref.backward(dy))
    for layer0, layer in zip(ref.layers, got.layers):
        for name in layer0.grads:
            same(layer.grads[name], layer0.grads[name])


@pytest.mark.parametrize("bk, suffix", [(SERIAL, "_serial"), (PARALLEL, "")], ids=["serial", "parallel"])
def test_a_cnn_step_runs_the_window_kernels(monkeypatch, bk, suffix):
    calls = {}
    for base in KERNELS:
        for name in (base, base + "_serial"):
            kernel = getattr(numba_backend.KW, name)

            def wrapped(*args, _k=kernel, _n=name):
                calls[_n] = calls.get(_n, 0) + 1
                return _k(*args)
            monkeypatch.setattr(numba_backend.KW, name, wrapped)
    model = trunk(bk, np.float32, 1, 1)
    model.backward(model.forward(images(np.random.default_rng(0), (2, 2, 9, 10), np.float32)) + 1)
    for base in KERNELS:
        assert calls.get(base + suffix, 0) >= 1, (base + suffix, calls)
    wrong = [k for k in calls if k.endswith("_serial") != (suffix == "_serial")]
    assert not wrong, f"{wrong} ran on the {'serial' if suffix else 'parallel'} backend"

