"""Conv2D: forward and every gradient against explicit loops, central differences, the numba
backend, the input checks, and a small CNN through Sequential, checkpoints and optimizers."""
import numpy as np
import pytest

import minicirc as mc
from minicirc.backends.numba_backend import NumbaBackend
from minicirc.gradcheck import check_layer, check_model
from minicirc.mnist.checkpoint import load_into, read_checkpoint, save_checkpoint


@pytest.fixture
def rng():
    return np.random.default_rng(14)


# -- the slow, obvious reference: eqs. (K1)-(K4) as index sums ---------------------------------

def pad(x, p):
    return np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))


def conv_loops(x, W, b, s, p):
    """y[b, o, h, w] = b[o] + sum_{c, i, j} W[o, c, i, j] x~[b, c, s h + i, s w + j]."""
    B, C, H, Wd = x.shape
    O, _, k, _ = W.shape
    xp = pad(x, p)
    ho, wo = (H + 2 * p - k) // s + 1, (Wd + 2 * p - k) // s + 1
    y = np.zeros((B, O, ho, wo))
    for n in range(B):
        for o in range(O):
            for h in range(ho):
                for w in range(wo):
                    acc = b[o]
                    for c in range(C):
                        for i in range(k):
                            for j in range(k):
                                acc += W[o, c, i, j] * xp[n, c, s * h + i, s * w + j]
                    y[n, o, h, w] = acc
    return y


def conv_grads_loops(x, W, dy, s, p):
    """dW, db and dx by the chain rule, one term at a time: each y[b, o, h, w] read
    x~[b, c, s h + i, s w + j] with weight W[o, c, i, j]."""
    B, C, H, Wd = x.shape
    O, _, k, _ = W.shape
    xp = pad(x, p)
    dW, dxp = np.zeros_like(W), np.zeros_like(xp)
    db = np.zeros(O)
    for n in range(B):
        for o in range(O):
            for h in range(dy.shape[2]):
                for w in range(dy.shape[3]):
                    g = dy[n, o, h, w]
                    db[o] += g
                    for c in range(C):
                        for i in range(k):
                            for j in range(k):
                                dW[o, c, i, j] += g * xp[n, c, s * h + i, s * w + j]
                                dxp[n, c, s * h + i, s * w + j] += g * W[o, c, i, j]
    return dW, db, dxp[:, :, p: p + H, p: p + Wd]


def layer_with_bias(c_in, c_out, k, s, p, backend=None, seed=0):
    layer = mc.Conv2D(c_in, c_out, k, stride=s, padding=p, rng=seed, dtype=np.float64, backend=backend)
    layer.params["b"][...] = np.random.default_rng(seed + 1).standard_normal(c_out) - 0.5
    return layer


@pytest.mark.parametrize("c_in, c_out, k, s, p, H, W", [
    (1, 2, 3, 1, 0, 5, 6), (2, 3, 3, 2, 1, 7, 6), (3, 2, 5, 1, 2, 6, 5), (2, 2, 1, 2, 0, 5, 4),
    (2, 1, 2, 2, 0, 7, 7), (1, 3, 5, 2, 2, 4, 5)])
def test_forward_and_gradients_equal_the_loops(rng, c_in, c_out, k, s, p, H, W):
    layer = layer_with_bias(c_in, c_out, k, s, p)
    x = rng.standard_normal((3, c_in, H, W)) + 0.3
    y = layer.forward(x)
    want = conv_loops(x, layer.params["W"], layer.params["b"], s, p)
    np.testing.assert_allclose(y, want, rtol=1e-12, atol=1e-12)
    dy = rng.standard_normal(y.shape)
    dx = layer.backward(dy)
    dW, db, dx_want = conv_grads_loops(x, layer.params["W"], dy, s, p)
    np.testing.assert_allclose(layer.grads["W"], dW, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(layer.grads["b"], db, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(dx, dx_want, rtol=1e-12, atol=1e-12)
    assert dx.shape == x.shape and dx.flags.c_contiguous


@pytest.mark.parametrize("size", [(6, 6), (7, 5)], ids=["even", "odd"])
@pytest.mark.parametrize("k", [1, 3, 5])
@pytest.mark.parametrize("stride", [1, 2])
@pytest.mark.parametrize("padding", [0, 1, 2])
def test_gradcheck(rng, size, k, stride, padding):
    layer = mc.Conv2D(2, 3, k, stride=stride, padding=padding, rng=1)
    x = rng.standard_normal((2, 2) + size)
    errors = check_layer(layer, x)
    assert set(errors) == {"dx", "dW", "db"}


def test_without_bias(rng):
    layer = mc.Conv2D(2, 3, 3, bias=False, rng=0, dtype=np.float64)
    assert set(layer.params) == {"W"} and repr(layer) == "Conv2D(2, 3, kernel=3, bias=False, dtype=float64)"
    x = rng.standard_normal((2, 2, 5, 5))
    np.testing.assert_allclose(layer.forward(x), conv_loops(x, layer.params["W"], np.zeros(3), 1, 0), atol=1e-12)
    assert set(check_layer(layer, x)) == {"dx", "dW"}


@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_without_input_grad(rng, backend):
    """input_grad=False: backward returns None, the parameter gradients are those with dx, and
    check_layer checks only them; set back to True, dx returns."""
    kw = dict(stride=2, padding=1, rng=0, dtype=np.float64, backend=backend)
    full, lean = mc.Conv2D(2, 3, 3, **kw), mc.Conv2D(2, 3, 3, input_grad=False, **kw)
    assert repr(lean).startswith("Conv2D(2, 3, kernel=3, stride=2, padding=1, input_grad=False, dtype=float64")
    x = rng.standard_normal((4, 2, 9, 8))
    dy = rng.standard_normal(full.forward(x).shape)
    lean.forward(x)
    assert lean.backward(dy) is None and full.backward(dy).shape == x.shape
    for name in ("W", "b"):
        np.testing.assert_array_equal(lean.grads[name], full.grads[name])
    assert set(check_layer(lean, x)) == {"dW", "db"}
    lean.input_grad = True
    assert set(check_layer(lean, x)) == {"dx", "dW", "db"}


def test_init_matches_its_docstring():
    """W ~ U(-a, a) with a = sqrt(3 gain / fan_in), so Var W = gain / fan_in; b = 0."""
    layer = mc.Conv2D(20, 50, 5, rng=0, gain=2.0, dtype=np.float64)
    W, fan_in = layer.params["W"], 20 * 25
    assert W.shape == (50, 20, 5, 5) and layer.params["b"].shape == (50,)
    a = np.sqrt(3 * 2.0 / fan_in)
    assert np.abs(W).max() <= a and np.abs(W).max() > 0.99 * a
    assert abs(W.var() / (2.0 / fan_in) - 1) < 0.05
    assert not layer.params["b"].any()
    assert layer.num_params() == 50 * 20 * 25 + 50
    # the same seed gives the same weights; float32 is the default dtype
    np.testing.assert_array_equal(mc.Conv2D(20, 50, 5, rng=0, gain=2.0).params["W"], W.astype(np.float32))


def test_float32_follows_float64(rng):
    l32 = mc.Conv2D(3, 4, 3, stride=2, padding=1, rng=0)
    l64 = l32.astype(np.float64)
    x = rng.standard_normal((2, 3, 9, 8))
    y32 = l32.forward(x)
    assert y32.dtype == np.float32
    np.testing.assert_allclose(y32, l64.forward(x), rtol=1e-5, atol=1e-5)
    dy = rng.standard_normal(y32.shape)
    dx32 = l32.backward(dy)
    assert dx32.dtype == np.float32 and l32.grads["W"].dtype == np.float32
    np.testing.assert_allclose(dx32, l64.backward(dy), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("s, p", [(1, 0), (2, 1)])
def test_numba_backend_equals_numpy(rng, s, p):
    ref, nb = layer_with_bias(3, 4, 3, s, p, "numpy"), layer_with_bias(3, 4, 3, s, p, "numba")
    x = rng.standard_normal((5, 3, 9, 10))
    np.testing.assert_allclose(nb.forward(x), ref.forward(x), rtol=1e-13, atol=1e-13)
    dy = rng.standard_normal(ref.forward(x).shape)
    np.testing.assert_allclose(nb.backward(dy), ref.backward(dy), rtol=1e-13, atol=1e-13)
    for name in ref.grads:
        np.testing.assert_allclose(nb.grads[name], ref.grads[name], rtol=1e-13, atol=1e-13, err_msg=name)


# -- bad input ----------------------------------------------------------------------------------

def conv():
    return mc.Conv2D(3, 4, 5, padding=1)


@pytest.mark.parametrize("x, error, message", [
    (np.zeros((2, 3 * 8 * 8), np.float32), ValueError,
     r"Conv2D\(3, 4, kernel=5, padding=1\): expected input of shape \(batch, 3, height, width\), "
     r"got shape \(2, 192\) \(2-D\)"),
    (np.zeros((2, 1, 8, 8), np.float32), ValueError,
     r"Conv2D\(3, 4, kernel=5, padding=1\): expected input of shape \(batch, 3, height, width\) "
     r"\(3 channels\), got shape \(2, 1, 8, 8\) \(1 channels\)"),
    (np.zeros((2, 3, 2, 8), np.float32), ValueError,
     r"Conv2D\(3, 4, kernel=5, padding=1\): expected input of shape \(batch, 3, height >= 3, width >= 3\), "
     r"got shape \(2, 3, 2, 8\): a 2x8 image is smaller than the 5x5 kernel with padding 1"),
    (np.zeros((0, 3, 8, 8), np.float32), ValueError,
     r"Conv2D\(3, 4, kernel=5, padding=1\): input has a batch of zero images \(shape \(0, 3, 8, 8\)\)"),
    (np.zeros((2, 3, 8, 8), np.int64), TypeError,
     r"Conv2D\(3, 4, kernel=5, padding=1\): input must be a floating-point array, got dtype int64"),
])
def test_input_errors_name_layer_expected_and_actual(x, error, message):
    with pytest.raises(error, match=message):
        conv().forward(x)


def test_non_finite_input_is_refused():
    x = np.zeros((2, 3, 8, 8), np.float32)
    x[1, 2, 3, 4] = np.nan
    with pytest.raises(mc.layers.base.NonFiniteError, match=r"Conv2D\(3, 4, kernel=5, padding=1\): input contains NaN or Inf"):
        conv().forward(x)


def test_wrong_dy_and_backward_first():
    layer = conv()
    with pytest.raises(RuntimeError, match=r"Conv2D.*backward\(\) called before forward"):
        layer.backward(np.zeros((2, 4, 6, 6), np.float32))
    layer.forward(np.zeros((2, 3, 8, 8), np.float32))
    with pytest.raises(ValueError, match=r"Conv2D\(3, 4, kernel=5, padding=1\): backward expected dy of "
                                         r"shape \(2, 4, 6, 6\).*got \(2, 4, 8, 8\)"):
        layer.backward(np.zeros((2, 4, 8, 8), np.float32))


@pytest.mark.parametrize("kwargs, message", [
    (dict(c_in=0, c_out=2, kernel=3), "Conv2D: c_in must be a positive integer, got 0"),
    (dict(c_in=1, c_out=2.5, kernel=3), "Conv2D: c_out must be a positive integer, got 2.5"),
    (dict(c_in=1, c_out=2, kernel=0), "Conv2D: kernel must be a positive integer, got 0"),
    (dict(c_in=1, c_out=2, kernel=3, stride=0), "Conv2D: stride must be a positive integer, got 0"),
    (dict(c_in=1, c_out=2, kernel=3, padding=-1), "Conv2D: padding must be a non-negative integer, got -1"),
    (dict(c_in=1, c_out=2, kernel=3, padding=True), "Conv2D: padding must be a non-negative integer, got True"),
    (dict(c_in=1, c_out=2, kernel=3, gain=0), "Conv2D: gain must be a positive finite number, got 0"),
    (dict(c_in=1, c_out=2, kernel=3, bias="no"), "Conv2D: bias must be True or False, got .no."),
    (dict(c_in=1, c_out=2, kernel=3, input_grad=0), "Conv2D: input_grad must be True or False, got 0"),
])
def test_constructor_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        mc.Conv2D(**kwargs)


# -- a small CNN through the rest of the engine --------------------------------------------------

def small_cnn(seed=0, dtype=np.float64):
    return mc.Sequential(mc.Conv2D(1, 3, 3, padding=1, rng=seed, dtype=dtype), mc.ReLU(), mc.MaxPool2D(2),
                         mc.Conv2D(3, 4, 3, stride=2, rng=seed + 1, dtype=dtype), mc.ReLU(), mc.Flatten(),
                         mc.Dense(4 * 2 * 2, 5, rng=seed + 2, dtype=dtype))


def test_check_model_small_cnn(rng):
    model = small_cnn()
    x = rng.standard_normal((3, 1, 11, 10))
    errors = check_model(model, mc.SoftmaxCrossEntropy(), x, np.array([0, 4, 2]))
    assert {"dx", "0.W", "0.b", "3.W", "3.b", "6.W", "6.b"} <= set(errors)


@pytest.mark.parametrize("make_opt", [lambda m: mc.SGD(m, lr=0.05, momentum=0.9), lambda m: mc.Adam(m, lr=1e-2)],
                         ids=["sgd", "adam"])
def test_optimizers_train_a_cnn(rng, make_opt):
    """A few steps on one fixed batch lower its loss, and every parameter moves."""
    model, loss = small_cnn(dtype=np.float32), mc.SoftmaxCrossEntropy()
    x = rng.standard_normal((8, 1, 11, 10)).astype(np.float32)
    t = rng.integers(0, 5, size=8)
    opt = make_opt(model)
    before = {name: p.copy() for name, p in model.named_parameters()}
    first = float(loss(model(x), t))
    for _ in range(20):
        loss(model(x), t)
        model.backward(loss.backward())
        opt.step()
    assert float(loss(model(x), t)) < 0.5 * first
    for name, p in model.named_parameters():
        assert not np.array_equal(p, before[name]), name


def test_checkpoint_round_trip(tmp_path, rng):
    model = small_cnn(seed=0)
    path = save_checkpoint(tmp_path / "cnn.npz", model, {"what": "cnn"})
    other = small_cnn(seed=10)
    x = rng.standard_normal((2, 1, 11, 10))
    assert not np.allclose(other(x), model(x))
    meta, arrays = read_checkpoint(path)
    assert meta["what"] == "cnn" and arrays["param/0.W"].shape == (3, 1, 3, 3)
    load_into(other, arrays, path)
    np.testing.assert_array_equal(other(x), model(x))


def im2col_loops(x, k, s, p):
    """X[(c, i, j), (b, h, w)] = x~[b, c, s h + i, s w + j], one number at a time."""
    B, C, H, Wd = x.shape
    xp = pad(x, p)
    ho, wo = (H + 2 * p - k) // s + 1, (Wd + 2 * p - k) // s + 1
    X = np.zeros((C * k * k, B * ho * wo), x.dtype)
    for c in range(C):
        for i in range(k):
            for j in range(k):
                for n in range(B):
                    for h in range(ho):
                        for w in range(wo):
                            X[(c * k + i) * k + j, (n * ho + h) * wo + w] = xp[n, c, s * h + i, s * w + j]
    return X


@pytest.mark.parametrize("backend", ["numpy", "numba"])
@pytest.mark.parametrize("shape, k, s, p", [((2, 3, 7, 8), 3, 1, 1), ((3, 2, 6, 5), 2, 2, 0),
                                            ((1, 1, 5, 5), 5, 1, 2), ((2, 2, 9, 6), 1, 2, 1)])
def test_im2col_is_its_definition_and_col2im_its_adjoint(rng, backend, shape, k, s, p):
    """The windows matrix entry by entry, and <im2col(x), D> = <x, col2im(D)> for random D:
    col2im is im2col's transpose, which is what makes eq. (K4) the gradient."""
    bk = NumbaBackend(kernel_min=0) if backend == "numba" else mc.get_backend(backend)   # kernels at any size
    x = rng.standard_normal(shape)
    X = bk.im2col(x, k, s, p)
    np.testing.assert_array_equal(X, im2col_loops(x, k, s, p))
    D = rng.standard_normal(X.shape)
    np.testing.assert_allclose(np.vdot(X, D), np.vdot(x, bk.col2im(D, shape, k, s, p)), rtol=1e-12)


@pytest.mark.parametrize("shape", [(5, 7, 11, 3), (2, 64), (130, 1), (1, 1, 5), (3, 4)])
def test_swap01_exchanges_the_leading_axes(rng, shape):
    """The copy behind the convolution's (O, B, Ho, Wo) <-> (B, O, Ho, Wo) equals NumPy's
    swapaxes, adds a bias per channel (the first axis of the input) when given, undoes
    itself, and takes a non-contiguous input."""
    a = rng.standard_normal(shape).astype(np.float32)
    want = np.swapaxes(a, 0, 1)
    add = rng.standard_normal(shape[:1]).astype(np.float32)
    for bk in (mc.get_backend("numpy"), mc.get_backend("numba")):
        got = bk.swap01(a)
        assert got.flags.c_contiguous
        np.testing.assert_array_equal(got, want)
        np.testing.assert_array_equal(bk.swap01(got), a)
        np.testing.assert_array_equal(bk.swap01(a, add), want + add.reshape((1, -1) + (1,) * (len(shape) - 2)))
        np.testing.assert_array_equal(bk.swap01(a[::2]), np.swapaxes(a[::2], 0, 1))
