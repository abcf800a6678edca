"""MaxPool2D and Flatten: forward and gradient against explicit loops (ties included), central
differences, the numba backend and the input checks."""
import numpy as np
import pytest

import minicirc as mc
from minicirc.gradcheck import check_layer


@pytest.fixture
def rng():
    return np.random.default_rng(14)


def pool_loops(x, k, s, dy=None):
    """y = max of each window; dx gets each dy at the FIRST maximum in row-major window order."""
    B, C, H, W = x.shape
    ho, wo = (H - k) // s + 1, (W - k) // s + 1
    y = np.zeros((B, C, ho, wo))
    dx = np.zeros_like(x)
    for n in range(B):
        for c in range(C):
            for h in range(ho):
                for w in range(wo):
                    best, where = -np.inf, None
                    for i in range(k):
                        for j in range(k):
                            v = x[n, c, s * h + i, s * w + j]
                            if v > best:              # strict: a later equal value does not win
                                best, where = v, (s * h + i, s * w + j)
                    y[n, c, h, w] = best
                    if dy is not None:
                        dx[n, c, where[0], where[1]] += dy[n, c, h, w]
    return y, dx


@pytest.mark.parametrize("k, s, H, W", [(2, 2, 6, 6), (2, 2, 7, 5), (3, 2, 7, 8), (3, 1, 5, 6), (2, 3, 8, 7),
                                        (1, 1, 3, 4)])
def test_forward_and_gradient_equal_the_loops(rng, k, s, H, W):
    x = rng.standard_normal((2, 3, H, W))
    pool = mc.MaxPool2D(k, s)
    y = pool.forward(x)
    dy = rng.standard_normal(y.shape)
    y_want, dx_want = pool_loops(x, k, s, dy)
    np.testing.assert_array_equal(y, y_want)
    np.testing.assert_allclose(pool.backward(dy), dx_want, rtol=1e-15, atol=1e-15)
    assert y.dtype == np.float64                   # built without dtype: follows the input


@pytest.mark.parametrize("k, s", [(2, 2), (3, 1), (3, 2)])
def test_ties_route_dy_to_the_first_maximum(k, s):
    """Integer-valued inputs with many equal values: dy goes to ONE input per window, the first
    in row-major window order (PyTorch's choice), never split or duplicated."""
    x = np.random.default_rng(3).integers(0, 3, size=(2, 2, 7, 6)).astype(np.float64)
    pool = mc.MaxPool2D(k, s)
    y = pool.forward(x)
    dy = np.random.default_rng(4).standard_normal(y.shape)
    y_want, dx_want = pool_loops(x, k, s, dy)
    dx = pool.backward(dy)
    np.testing.assert_array_equal(y, y_want)
    np.testing.assert_allclose(dx, dx_want, rtol=1e-15, atol=1e-15)
    np.testing.assert_allclose(dx.sum(), dy.sum())


def test_a_tie_in_one_window_by_hand():
    x = np.array([[[[1.0, 5.0], [5.0, 5.0]]]])         # three equal maxima: (0, 1) is first
    pool = mc.MaxPool2D(2)
    assert pool.forward(x).item() == 5.0
    np.testing.assert_array_equal(pool.backward(np.array([[[[2.0]]]])), [[[[0.0, 2.0], [0.0, 0.0]]]])


@pytest.mark.parametrize("size", [(6, 6), (7, 5)], ids=["even", "odd"])
@pytest.mark.parametrize("k, s", [(2, 2), (3, 1), (3, 2), (2, 1)])
def test_gradcheck(rng, size, k, s):
    # Distinct values (a permutation) a step of 1 apart: no tie, and eps never changes a winner.
    x = rng.permutation(2 * 2 * size[0] * size[1]).reshape((2, 2) + size).astype(np.float64)
    assert set(check_layer(mc.MaxPool2D(k, s), x)) == {"dx"}


def test_numba_backend_equals_numpy(rng):
    x = rng.standard_normal((4, 3, 9, 8)).astype(np.float32)
    ref, nb = mc.MaxPool2D(3, 2), mc.MaxPool2D(3, 2, backend="numba")
    np.testing.assert_array_equal(nb.forward(x), ref.forward(x))
    dy = rng.standard_normal(ref.forward(x).shape).astype(np.float32)
    np.testing.assert_array_equal(nb.backward(dy), ref.backward(dy))


def test_dtype_and_repr():
    assert repr(mc.MaxPool2D(2)) == "MaxPool2D(2)" and repr(mc.MaxPool2D(3, 1)) == "MaxPool2D(3, stride=1)"
    pool = mc.MaxPool2D(2, dtype=np.float32)
    assert pool.forward(np.ones((1, 1, 2, 2))).dtype == np.float32
    assert mc.MaxPool2D(2).forward(np.ones((1, 1, 2, 2), np.float32)).dtype == np.float32


@pytest.mark.parametrize("x, error, message", [
    (np.zeros((2, 16)), ValueError,
     r"MaxPool2D\(2\): expected input of shape \(batch, channels, height, width\), got shape \(2, 16\) \(2-D\)"),
    (np.zeros((2, 3, 1, 8)), ValueError,
     r"MaxPool2D\(2\): expected input of shape \(batch, channels, height >= 2, width >= 2\), got shape "
     r"\(2, 3, 1, 8\): a 1x8 image is smaller than the 2x2 pooling window"),
    (np.zeros((0, 3, 4, 4)), ValueError, r"MaxPool2D\(2\): input has a batch of zero images"),
    (np.zeros((2, 3, 4, 4), np.int32), TypeError,
     r"MaxPool2D\(2\): input must be a floating-point array, got dtype int32"),
    (np.full((2, 3, 4, 4), np.nan), ValueError, r"MaxPool2D\(2\): input contains NaN or Inf"),
])
def test_pool_input_errors(x, error, message):
    with pytest.raises(error, match=message):
        mc.MaxPool2D(2).forward(x)


def test_pool_constructor_and_dy_errors():
    with pytest.raises(ValueError, match="MaxPool2D: size must be a positive integer, got 0"):
        mc.MaxPool2D(0)
    with pytest.raises(ValueError, match="MaxPool2D: stride must be a positive integer, got -1"):
        mc.MaxPool2D(2, -1)
    pool = mc.MaxPool2D(2)
    pool.forward(np.zeros((2, 3, 4, 4)))
    with pytest.raises(ValueError, match=r"MaxPool2D\(2\): backward expected dy of shape \(2, 3, 2, 2\)"):
        pool.backward(np.zeros((2, 3, 4, 4)))


# -- Flatten ---------------------------------------------------------------------------------------

def test_flatten_is_a_row_major_reshape(rng):
    x = rng.standard_normal((2, 3, 4, 5))
    f = mc.Flatten()
    y = f.forward(x)
    assert y.shape == (2, 60)
    for b, c, h, w in [(0, 0, 0, 0), (1, 2, 3, 4), (1, 1, 2, 0)]:
        assert y[b, c * 20 + h * 5 + w] == x[b, c, h, w]
    dy = rng.standard_normal((2, 60))
    dx = f.backward(dy)
    assert dx.shape == x.shape and dx[1, 2, 3, 4] == dy[1, 59]
    assert set(check_layer(f, x)) == {"dx"}
    assert f.forward(x.astype(np.float32)).dtype == np.float32            # follows its input
    assert f.backward(dy).dtype == np.float32


@pytest.mark.parametrize("x, message", [
    (np.zeros((2, 12)), r"Flatten\(\): expected input of shape \(batch, channels, height, width\), got shape \(2, 12\) \(2-D\)"),
    (np.zeros((0, 1, 2, 2)), r"Flatten\(\): input has a batch of zero images"),
])
def test_flatten_errors(x, message):
    with pytest.raises(ValueError, match=message):
        mc.Flatten().forward(x)
    f = mc.Flatten()
    f.forward(np.zeros((2, 1, 2, 3)))
    with pytest.raises(ValueError, match=r"Flatten\(\): backward expected dy of shape \(2, 6\)"):
        f.backward(np.zeros((2, 5)))


def test_elementwise_layers_take_images(rng):
    """ReLU, Tanh, Sigmoid and Dropout sit between convolutions: any (batch, ...) shape."""
    x = rng.standard_normal((2, 3, 4, 5))
    for layer in (mc.ReLU(), mc.Tanh(), mc.Sigmoid(), mc.Dropout(0.3, rng=0)):
        y = layer.forward(x)
        assert y.shape == x.shape
        assert layer.backward(np.ones_like(y)).shape == x.shape
        assert set(check_layer(layer, x)) == {"dx"}
    with pytest.raises(ValueError, match=r"ReLU\(\): expected input of shape \(batch, features\), got shape \(5,\) \(1-D\)"):
        mc.ReLU().forward(np.zeros(5))
