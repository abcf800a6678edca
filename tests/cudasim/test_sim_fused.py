"""The fused elementwise kernels under the simulator, against the NumPy layers and references."""
import numpy as np
import pytest

from minicirc.backends import NumpyBackend
from minicirc.backends.cuda import fused, philox
from minicirc.layers import Dropout, ReLU

pytestmark = pytest.mark.cudasim

DTYPES = [np.float32, np.float64]


def step_scalar(k):
    return np.array([k], np.int64)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("b, d, n", [(1, 5, 5), (3, 7, 16), (4, 10, 11), (2, 1, 8)])
def test_pad_flip_is_flip_then_zero_pad(rng, dtype, b, d, n):
    x = rng.standard_normal((b, d)).astype(dtype)
    s = rng.choice([-1.0, 1.0], n).astype(dtype)
    got = fused.pad_flip(x, s, n)
    assert got.dtype == np.dtype(dtype) and got.shape == (b, n)
    np.testing.assert_array_equal(got, fused.pad_flip_reference(x, s, n))
    # and by the slow obvious rule
    want = np.zeros((b, n), dtype)
    for i in range(b):
        for j in range(d):
            want[i, j] = s[j] * x[i, j]
    np.testing.assert_array_equal(got, want)


def test_pad_flip_reads_a_strided_view_and_writes_out(rng):
    x = rng.standard_normal((3, 12)).astype(np.float32)[:, ::2]
    s = rng.choice([-1.0, 1.0], 8).astype(np.float32)
    out = np.full((3, 8), np.nan, np.float32)
    assert fused.pad_flip(x, s, 8, out=out) is out
    np.testing.assert_array_equal(out, fused.pad_flip_reference(x, s, 8))


def numpy_layers(z, bias, p, seed, layer, step, dy):
    """Bias add, ReLU and Dropout as the NumPy backend's layers do them, with Philox's uniforms
    handed to Dropout in place of its generator's: the mask the fused kernel must draw."""
    class PhiloxUniforms:
        def random(self, shape, dtype):
            words = philox.mask_words_reference(seed, step, layer, int(np.prod(shape)))
            return philox.uniform_reference(words).astype(dtype).reshape(shape)

    a = z.copy()
    if bias is not None:
        a += bias                               # Circulant/Dense: y += b
    relu = ReLU(backend=NumpyBackend())
    drop = Dropout(p, rng=0, backend=NumpyBackend())
    drop.rng = PhiloxUniforms()
    y = drop.forward(relu.forward(a))
    dz = relu.backward(drop.backward(dy))
    return y, dz, dz.sum(axis=0)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("b, d", [(1, 1), (3, 7), (37, 21), (16, 64)])
@pytest.mark.parametrize("p", [0.0, 0.3])
@pytest.mark.parametrize("with_bias", [True, False])
def test_bias_relu_dropout_equals_the_numpy_layers(rng, dtype, b, d, p, with_bias):
    seed, layer, step = 99, 2, 41
    z = rng.standard_normal((b, d)).astype(dtype)
    bias = rng.standard_normal(d).astype(dtype) if with_bias else None
    dy = rng.standard_normal((b, d)).astype(dtype)
    y, m = fused.bias_relu_dropout(z, bias, p, seed, layer, step_scalar(step))
    want_y, want_dz, want_db = numpy_layers(z, bias, p, seed, layer, step, dy)
    assert y.dtype == m.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(y, want_y)
    ry, rm = fused.bias_relu_dropout_reference(z, bias, p, seed, layer, step)
    np.testing.assert_array_equal(y, ry)
    np.testing.assert_array_equal(m, rm)
    dz, db = fused.relu_dropout_backward(dy, m)
    np.testing.assert_array_equal(dz, want_dz)
    tol = dict(rtol=1e-5, atol=1e-5) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(db, want_db, **tol)


def test_dropout_mask_follows_the_step_scalar(rng):
    z = np.abs(rng.standard_normal((8, 50))).astype(np.float32) + 0.1   # all positive: only dropout zeroes
    y3, _ = fused.bias_relu_dropout(z, None, 0.5, 7, 0, step_scalar(3))
    y4, _ = fused.bias_relu_dropout(z, None, 0.5, 7, 0, step_scalar(4))
    y3b, _ = fused.bias_relu_dropout(z, None, 0.5, 7, 0, step_scalar(3))
    np.testing.assert_array_equal(y3, y3b)
    assert 0.3 < float(((y3 == 0) == (y4 == 0)).mean()) < 0.7
    np.testing.assert_array_equal(y3 == 0, ~philox.keep_mask_reference(7, 3, 0, z.shape, 0.5))


def test_backward_sum_is_repeatable_and_exact_on_integers(rng):
    dy = rng.integers(-8, 8, (53, 19)).astype(np.float32)
    m = rng.choice([0.0, 2.0], (53, 19)).astype(np.float32)
    dz1, db1 = fused.relu_dropout_backward(dy, m)
    dz2, db2 = fused.relu_dropout_backward(dy, m)
    np.testing.assert_array_equal(db1, db2)
    np.testing.assert_array_equal(db1, (dy * m).sum(axis=0))       # small integers: any order is exact


@pytest.mark.parametrize("call, match", [
    (lambda: fused.pad_flip(np.zeros((2, 3), np.int64), np.ones(3), 4), "x must be a 2-D float32"),
    (lambda: fused.pad_flip(np.zeros((2, 3)), np.ones(2), 4), "s must be 1-D with at least d=3"),
    (lambda: fused.pad_flip(np.zeros((2, 3)), np.ones(3), 2), "n must be an integer >= d=3"),
    (lambda: fused.bias_relu_dropout(np.zeros((2, 3)), np.zeros(4), 0.1, 0, 0, step_scalar(0)), r"bias must have shape \(3,\)"),
    (lambda: fused.bias_relu_dropout(np.zeros((2, 3)), None, 1.0, 0, 0, step_scalar(0)), "dropout rate p"),
    (lambda: fused.bias_relu_dropout(np.zeros((2, 3)), None, 0.1, 0, 0, np.zeros(1, np.int32)), "step must be a one-element int64"),
    (lambda: fused.relu_dropout_backward(np.zeros((2, 3)), np.zeros((3, 2))), "m must have dy's shape"),
    (lambda: fused.relu_dropout_backward(np.zeros((2, 3)), np.zeros((2, 3), np.float32)), "m must be float64"),
])
def test_bad_input_is_named(call, match):
    with pytest.raises(ValueError, match=match):
        call()
