"""The checker itself: it must fail, with its table, on each planted bug class."""
import numpy as np
import pytest

import minicirc as mc
from minicirc.backends import NumpyBackend
from minicirc.gradcheck import GradientCheckError, check_layer, check_model, rel_error


class NoConjBackend(NumpyBackend):
    """Planted bug: dL/dr without the conjugate (a convolution where a correlation belongs)."""

    def cmul_conj_sum(self, A, B):
        return np.einsum("bf,bf->f", A, B)


class TransposedDense(mc.Dense):
    """Planted bug: dW transposed (shape-correct only because the layer is square)."""

    def backward(self, dy):
        dx = super().backward(dy)
        self.grads["W"] = self.grads["W"].T.copy()
        return dx


class LossWithoutMean(mc.SoftmaxCrossEntropy):
    """Planted bug: the gradient forgets the 1/B of the mean."""

    def backward(self, dloss=1.0):
        return super().backward(dloss) * self._cache[0].shape[0]


def test_missing_conjugate_in_dr_is_caught():
    layer = mc.Circulant(9, 9, rng=0, backend=NoConjBackend())
    with pytest.raises(GradientCheckError) as info:
        check_layer(layer, np.random.default_rng(0).standard_normal((3, 9)))
    assert "dr" in str(info.value) and "FAIL" in str(info.value)
    assert info.value.errors["dr"] > 1e-2 and info.value.errors["dx"] <= 1e-6


def test_transposed_dW_is_caught():
    with pytest.raises(GradientCheckError) as info:
        check_layer(TransposedDense(6, 6, rng=0), np.random.default_rng(0).standard_normal((4, 6)))
    assert info.value.errors["dW"] > 1e-2
    assert "dW" in str(info.value)


def test_missing_mean_in_loss_is_caught():
    model = mc.Sequential(mc.Dense(5, 4, rng=0))
    x = np.random.default_rng(0).standard_normal((3, 5))
    with pytest.raises(GradientCheckError) as info:
        check_model(model, LossWithoutMean(), x, np.array([0, 1, 2]))
    assert info.value.errors["0.W"] > 0.5


def test_directional_mode_catches_bugs_too():
    layer = mc.Circulant(64, rng=0, backend=NoConjBackend())
    with pytest.raises(GradientCheckError):
        check_layer(layer, np.random.default_rng(0).standard_normal((2, 64)), directional=True)


def test_raise_on_fail_false_returns_the_table():
    errors = check_layer(TransposedDense(4, 4, rng=0), np.ones((2, 4)), raise_on_fail=False)
    assert errors["dW"] > 1e-2 and errors["dx"] < 1e-6


def test_rel_error():
    assert rel_error([1.0, 2.0], [1.0, 2.0]) == 0.0
    assert rel_error([1.0], [-1.0]) == pytest.approx(1.0)
    assert rel_error(np.zeros(3), np.zeros(3)) == 0.0
    with pytest.raises(ValueError):
        rel_error(np.zeros(2), np.zeros(3))


class ParamNamedX(mc.Layer):
    def __init__(self):
        super().__init__()
        self.params["x"] = np.ones(3, np.float32)

    def forward(self, x):
        return x * self.params["x"]


def test_a_parameter_named_x_is_refused():
    with pytest.raises(ValueError, match="parameter named 'x'"):
        check_layer(ParamNamedX(), np.ones((2, 3)))


def test_zero_parameters_are_randomised_so_they_cannot_hide_a_bug():
    """A layer whose d(bias) is wrong only when the bias is non-zero: y = x + b^2."""

    class Squared(mc.Layer):
        def __init__(self):
            super().__init__(dtype=np.float64)
            self.params["c"] = np.zeros(3)

        def forward(self, x):
            self._cache = (x.shape[0],)
            return x + self.params["c"] ** 2

        def backward(self, dy):
            self.grads["c"] = 0 * dy.sum(0)           # wrong: should be 2 c sum(dy)
            return dy

    with pytest.raises(GradientCheckError):
        check_layer(Squared(), np.ones((2, 3)))
