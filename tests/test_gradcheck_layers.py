"""Every layer and the loss pass the float64 gradient check at 1e-6."""
import numpy as np
import pytest

import minicirc as mc
from minicirc.gradcheck import check_layer, check_model

SIZES = [(7, 5), (5, 7), (1, 1), (8, 8), (9, 9), (1024, 10)]


@pytest.mark.parametrize("d_in,d_out", SIZES + [(784, 1024)])
@pytest.mark.parametrize("batch", [1, 3])
@pytest.mark.parametrize("bias,sign_flip", [(True, True), (False, False)])
def test_circulant(d_in, d_out, batch, bias, sign_flip):
    layer = mc.Circulant(d_in, d_out, bias=bias, sign_flip=sign_flip, rng=d_in + d_out)
    x = np.random.default_rng(batch).standard_normal((batch, d_in))
    errors = check_layer(layer, x)
    assert set(errors) == {"dx", "dr"} | ({"db"} if bias else set())
    assert max(errors.values()) <= 1e-6


@pytest.mark.parametrize("d_in,d_out", SIZES)
@pytest.mark.parametrize("batch", [1, 3])
@pytest.mark.parametrize("bias", [True, False])
def test_dense(d_in, d_out, batch, bias):
    layer = mc.Dense(d_in, d_out, bias=bias, rng=1)
    x = np.random.default_rng(batch).standard_normal((batch, d_in))
    errors = check_layer(layer, x)
    assert set(errors) == {"dx", "dW"} | ({"db"} if bias else set())


def test_large_dense_directional():
    layer = mc.Dense(784, 1024, rng=0)
    x = np.random.default_rng(0).standard_normal((4, 784))
    errors = check_layer(layer, x, directional=True)
    assert set(errors) == {"dx", "dW", "db"}


@pytest.mark.parametrize("cls", [mc.ReLU, mc.Tanh, mc.Sigmoid])
@pytest.mark.parametrize("shape", [(1, 1), (4, 7)])
def test_activations(cls, shape):
    x = np.random.default_rng(0).standard_normal(shape) * 3
    x[np.abs(x) < 1e-3] = 0.5          # keep ReLU away from its kink, where no derivative exists
    assert set(check_layer(cls(), x)) == {"dx"}


def test_relu_at_its_kink_passes_no_gradient():
    """At x = 0 there is no derivative; the docstring's convention, dx = dy * [x > 0] (PyTorch's
    too), gives 0. Finite differences cannot check a kink, so this says it directly."""
    layer = mc.ReLU()
    x = np.array([[-1.0, 0.0, 2.0], [0.0, -0.0, 3.0]])
    layer.forward(x)
    assert np.array_equal(layer.backward(np.full_like(x, 5.0)), [[0, 0, 5], [0, 0, 5]])


def test_dropout_in_training_replays_its_mask():
    layer = mc.Dropout(0.4, rng=0)
    x = np.random.default_rng(0).standard_normal((5, 6))
    check_layer(layer, x)
    assert check_layer(layer.eval(), x)["dx"] <= 1e-6


@pytest.mark.parametrize("batch", [1, 4])
def test_softmax_cross_entropy_through_model(batch):
    rng = np.random.default_rng(batch)
    model = mc.Sequential(mc.Circulant(12, 16, rng=1), mc.ReLU(), mc.Dropout(0.2, rng=5),
                          mc.Circulant(16, rng=2, sign_flip=False), mc.Tanh(), mc.Dense(16, 10, rng=3))
    x = rng.standard_normal((batch, 12))
    t = rng.integers(0, 10, batch)
    errors = check_model(model, mc.SoftmaxCrossEntropy(), x, t)
    assert set(errors) == {"dx", "0.r", "0.b", "3.r", "3.b", "5.W", "5.b"}


def test_check_model_directional():
    rng = np.random.default_rng(0)
    model = mc.Sequential(mc.Circulant(784, 1024, rng=1), mc.ReLU(), mc.Dense(1024, 10, rng=3))
    errors = check_model(model, mc.SoftmaxCrossEntropy(), rng.standard_normal((3, 784)),
                         np.array([1, 2, 3]), directional=True)
    assert len(errors) == 5


def test_loss_gradient_is_stable_for_huge_logits():
    loss = mc.SoftmaxCrossEntropy()
    z = np.array([[1e4, 0.0, -1e4], [0.0, 1e4, 1e4]], dtype=np.float32)
    value = loss.forward(z, np.array([0, 2]))
    dz = loss.backward()
    assert np.isfinite(value) and np.all(np.isfinite(dz))
    assert value == pytest.approx(np.log(2) / 2, rel=1e-6)      # row 1: p = 1; row 2: p = 1/2
    np.testing.assert_allclose(dz, [[0, 0, 0], [0, 0.25, -0.25]], atol=1e-7)
    assert dz.dtype == np.float32


def test_loss_against_direct_formula():
    rng = np.random.default_rng(0)
    z = rng.standard_normal((6, 10))
    t = rng.integers(0, 10, 6)
    p = np.exp(z) / np.exp(z).sum(1, keepdims=True)
    loss = mc.SoftmaxCrossEntropy()
    assert loss.forward(z, t) == pytest.approx(-np.log(p[np.arange(6), t]).mean(), rel=1e-12)
    onehot = np.eye(10)[t]
    np.testing.assert_allclose(loss.backward(), (p - onehot) / 6, atol=1e-14)
