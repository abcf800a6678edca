"""The checker itself: it must fail, with its table, on each planted bug class."""
import numpy as np
import pytest

import minicirc as mc
from minicirc.backends import NumpyBackend
from minicirc.layers.sequential import DxShapeError
from minicirc.gradcheck import (GradientCheckError, check_layer, check_model, directional_grad,
                                numerical_grad, rel_error)


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
        return super().backward(dloss) * self.cache[0].shape[0]


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
    # B times too large: rel_error (B - 1) / (B + 1) = 0.5 exactly, up to the differences' noise
    assert info.value.errors["0.W"] == pytest.approx(0.5, abs=1e-6)


def test_directional_mode_catches_bugs_too():
    layer = mc.Circulant(64, rng=0, backend=NoConjBackend())
    with pytest.raises(GradientCheckError):
        check_layer(layer, np.random.default_rng(0).standard_normal((2, 64)), directional=True)


def test_raise_on_fail_false_returns_the_table():
    errors = check_layer(TransposedDense(4, 4, rng=0), np.ones((2, 4)), raise_on_fail=False)
    assert errors["dW"] > 1e-2 and errors["dx"] < 1e-6


def test_a_failed_check_is_false_so_asserting_it_fails():
    """A table is not a verdict: ``assert check_layer(..., raise_on_fail=False)`` on the
    planted bug must fail, and say which gradient and by how much."""
    x = np.random.default_rng(0).standard_normal((2, 4))
    failed = check_layer(TransposedDense(4, 4, rng=0), x, raise_on_fail=False)
    assert len(failed) == 3 and not failed.passed and failed.failed == ["dW"]
    with pytest.raises(AssertionError) as info:
        assert failed
    assert "dW" in str(info.value) and "FAIL" in repr(failed) and "FAILED (dW above 1e-06)" in repr(failed)
    model = mc.Sequential(mc.Tanh(), TransposedDense(4, 4, rng=0))
    assert not check_model(model, mc.SoftmaxCrossEntropy(), x, np.array([0, 3]), raise_on_fail=False)
    passed = check_layer(mc.Dense(4, 4, rng=0), x, raise_on_fail=False)
    assert passed and passed.passed and repr(passed).startswith("gradient check of Dense: passed")


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


class Squared(mc.Layer):
    """y = x + c^2 with a zero-initialised c, and a wrong dc (0 instead of 2 c sum(dy)): it
    hides behind c = 0 unless the check gives zero parameters random values."""

    def __init__(self):
        super().__init__(dtype=np.float64)
        self.params["c"] = np.zeros(3)

    def forward(self, x):
        self.cache = (x.shape[0],)
        return x + self.params["c"] ** 2

    def backward(self, dy):
        self.grads["c"] = 0 * dy.sum(0)           # wrong: should be 2 c sum(dy)
        return dy


def test_zero_parameters_are_randomised_so_they_cannot_hide_a_bug():
    with pytest.raises(GradientCheckError):
        check_layer(Squared(), np.ones((2, 3)))


class KeepdimsBias(mc.Layer):
    """Planted bug: db with a stray leading axis, shape (1, d) for b of shape (d,)."""

    def __init__(self, d):
        super().__init__(dtype=np.float64)
        self.d = d
        self.params["a"] = np.full(d, 1.5)
        self.params["b"] = np.zeros(d)

    def forward(self, x):
        x = self.check_input(x, self.d)
        self.cache = (x,)
        return x * self.params["a"] + self.params["b"]

    def backward(self, dy):
        (x,) = self.cached()
        dy = self.check_dy(dy, x.shape)
        self.grads["a"] = (dy * x).sum(axis=0)
        self.grads["b"] = dy.sum(axis=0, keepdims=True)
        return dy * self.params["a"]


class KeepdimsDx(KeepdimsBias):
    """Planted bug: dx with an extra axis (it broadcasts against everything)."""

    def backward(self, dy):
        dx = super().backward(dy)
        self.grads["b"] = self.grads["b"][0]
        return dx[None]


@pytest.mark.parametrize("directional", [False, True])
def test_a_gradient_of_the_wrong_shape_is_caught(directional):
    x = np.random.default_rng(0).standard_normal((4, 6))
    with pytest.raises(GradientCheckError, match=r"KeepdimsBias: gradient db has shape \(1, 6\), "
                                                 r"expected \(6,\), the shape of parameter 'b'"):
        check_layer(KeepdimsBias(6), x, directional=directional)
    with pytest.raises(GradientCheckError, match=r"KeepdimsDx: gradient dx has shape \(1, 4, 6\), "
                                                 r"expected \(4, 6\), the shape of the input x"):
        check_layer(KeepdimsDx(6), x, directional=directional)
    model = mc.Sequential(KeepdimsBias(6), mc.Dense(6, 3, rng=0))
    with pytest.raises(GradientCheckError, match=r"model: gradient 0.b has shape \(1, 6\), "
                                                 r"expected \(6,\), the shape of parameter '0.b'"):
        check_model(model, mc.SoftmaxCrossEntropy(), x, np.array([0, 1, 2, 0]), directional=directional)


def test_fortran_ordered_inputs_and_parameters_are_checked():
    """A transposed x (or parameter) is Fortran-ordered; the float64 copies are made C-ordered
    so that numerical_grad can perturb them in place."""
    x = np.random.default_rng(1).standard_normal((5, 4)).T
    assert x.flags.f_contiguous and not x.flags.c_contiguous
    layer = mc.Dense(5, 3, rng=0)
    layer.params["W"] = np.asfortranarray(layer.params["W"])
    assert set(check_layer(layer, x)) == {"dx", "dW", "db"}
    assert layer.astype(np.float64).params["W"].flags.c_contiguous
    model = mc.Sequential(layer, mc.Tanh(), mc.Dense(3, 3, rng=1))
    assert set(check_model(model, mc.SoftmaxCrossEntropy(), x, np.array([0, 1, 2, 0]))) == \
        {"dx", "0.W", "0.b", "2.W", "2.b"}


def test_numerical_grad_divides_by_the_step_a_float32_array_took():
    """In float32, a + eps rounds: d/da sum(a^2) at a = 1 came out 1.967, not 2."""
    a32 = np.array([1.0, 3.0, 10.0], np.float32)
    got = numerical_grad(lambda: a32.astype(np.float64) ** 2, a32, 1.0)
    assert got.dtype == np.float64
    np.testing.assert_allclose(got, 2 * a32, rtol=1e-6)
    # where eps is below the array's resolution the step rounds away: NaN, not a silent 0
    assert np.isnan(numerical_grad(lambda: a32.astype(np.float64) ** 2, a32, 1.0, eps=1e-9)).all()
    with pytest.raises(TypeError, match="numerical_grad: the array must be floating-point.*got dtype int64"):
        numerical_grad(lambda: 0.0, np.arange(3), 1.0)
    with pytest.raises(TypeError, match="directional_grad: the array must be float64, got dtype float32"):
        directional_grad(lambda: a32 ** 2, a32, 1.0, np.ones(3))


class NoneDx(mc.Tanh):
    """A backward that forgot its return."""

    def backward(self, dy):
        super().backward(dy)


class NoneGrad(mc.Dense):
    def backward(self, dy):
        dx = super().backward(dy)
        self.grads["b"] = None
        return dx


class ForgetsB(mc.Dense):
    def backward(self, dy):
        dx = super().backward(dy)
        del self.grads["b"]
        return dx


class NarrowDx(mc.Tanh):
    """dx one column short: the layer before would get the blame without Sequential's check."""

    def backward(self, dy):
        return super().backward(dy)[:, :-1]


def test_a_missing_or_none_gradient_is_named_as_such():
    x = np.random.default_rng(0).standard_normal((4, 3))
    with pytest.raises(GradientCheckError, match=r"NoneDx: backward\(\) returned None; expected the "
                                                 r"gradient dx, an array of shape \(4, 3\)"):
        check_layer(NoneDx(), x)
    with pytest.raises(GradientCheckError, match=r"NoneGrad: grads\['b'\] is None; expected the gradient db"):
        check_layer(NoneGrad(3, 2, rng=0), x)
    with pytest.raises(GradientCheckError, match=r"ForgetsB: backward\(\) set no gradient for "
                                                 r"parameter\(s\) \['b'\]"):
        check_layer(ForgetsB(3, 2, rng=0), x)


def test_a_wrong_dx_is_blamed_on_the_layer_that_returned_it():
    model = mc.Sequential(mc.Dense(6, 5, rng=0), NarrowDx(), mc.Dense(5, 3, rng=1))
    x = np.random.default_rng(0).standard_normal((4, 6))
    with pytest.raises(GradientCheckError, match=r"gradient check for model \(on its float64 copy\): "
                                                 r"Sequential: layer 1 \(NarrowDx\(dtype=float64\)\) backward "
                                                 r"returned shape \(4, 4\); expected dx of shape \(4, 5\)"):
        check_model(model, mc.SoftmaxCrossEntropy(), x, np.array([0, 1, 2, 0]))
    model = mc.Sequential(mc.Dense(6, 5, rng=0), NoneDx())
    model.forward(x)
    with pytest.raises(DxShapeError, match=r"layer 1 \(NoneDx\(\)\) backward returned None"):
        model.backward(np.ones((4, 5)))


class NoInputGradient(mc.Tanh):
    """A first layer whose input has no gradient (indices, say) may return None."""

    def backward(self, dy):
        super().backward(dy)


def test_the_first_layer_may_return_no_dx():
    model = mc.Sequential(NoInputGradient(), mc.Dense(5, 3, rng=0))
    model.forward(np.ones((4, 5)))
    assert model.backward(np.ones((4, 3))) is None
    assert model[1].grads["W"].shape == (5, 3)


@pytest.mark.parametrize("x, dtype", [(np.array([[0, 1, -2], [3, 0, 1]]), "int64"),
                                      (np.array([[True, False, True]]), "bool"),
                                      (np.ones((2, 3)) * 1j, "complex128")])
def test_an_input_that_is_not_real_floating_point_is_refused(x, dtype):
    """Converted to float64, integers sit on ReLU's kink and fail a correct layer; a complex
    input would lose its imaginary part."""
    with pytest.raises(TypeError, match=f"check_layer: x must be a real floating-point array.*got dtype {dtype}"):
        check_layer(mc.ReLU(), x)
    with pytest.raises(TypeError, match=f"check_model: x must be a real floating-point array.*got dtype {dtype}"):
        check_model(mc.Sequential(mc.ReLU()), mc.SoftmaxCrossEntropy(), x, np.zeros(len(x), int))


@pytest.mark.parametrize("kw, message", [
    ({"eps": 0.0}, "eps must be a finite step > 0, got 0.0"),
    ({"eps": float("nan")}, "eps must be a finite step > 0, got nan"),
    ({"eps": -1e-6}, "eps must be a finite step > 0"),
    ({"tol": -1}, "tol must be a number >= 0, got -1"),
    ({"tol": float("nan")}, "tol must be a number >= 0, got nan"),
])
def test_options_that_would_make_every_check_fail_are_refused(kw, message):
    x = np.random.default_rng(0).standard_normal((4, 3))
    with pytest.raises(ValueError, match=f"check_layer: {message}"):
        check_layer(mc.Tanh(), x, **kw)


def test_a_step_that_rounds_away_says_so():
    x = np.random.default_rng(0).standard_normal((4, 3))
    with pytest.raises(GradientCheckError, match="nan: a difference was not a number"):
        check_layer(mc.Tanh(), x, eps=1e-20)


def test_a_sequential_is_a_layer_to_both_checks_and_anything_else_is_refused():
    x = np.random.default_rng(0).standard_normal((2, 3))
    model = mc.Sequential(mc.Dense(3, 3, rng=0), mc.Sequential(mc.Tanh(), mc.Dense(3, 2, rng=1)))
    result = check_layer(model, x)
    assert result and set(result) == {"dx", "d0.W", "d0.b", "d1.1.W", "d1.1.b"}
    assert check_model(mc.Tanh(), mc.SoftmaxCrossEntropy(), np.ones((2, 3)), np.zeros(2, int))
    with pytest.raises(TypeError, match=r"check_layer: layer must be a minicirc Layer, got function"):
        check_layer(lambda a: np.tanh(a), x)
    with pytest.raises(TypeError, match=r"check_model: model must be a minicirc Layer.*got list"):
        check_model([mc.Tanh()], mc.SoftmaxCrossEntropy(), x, np.zeros(2, int))


class Interrupted(Exception):
    pass


@pytest.mark.parametrize("fn", ["numerical", "directional"])
def test_the_array_is_restored_when_f_raises(fn):
    """Ctrl-C (or any error) inside f must not leave a parameter off by eps."""
    a = np.linspace(0.0, 1.0, 5)
    before = a.copy()
    calls = [0]

    def f():
        calls[0] += 1
        if calls[0] == 4:
            raise Interrupted
        return np.sin(a)

    with pytest.raises(Interrupted):
        if fn == "numerical":
            numerical_grad(f, a, 1.0)
        else:
            calls[0] = 2                  # raise on the second call: a is then at old - eps v
            directional_grad(f, a, 1.0, np.ones(5))
    np.testing.assert_array_equal(a, before)


def test_numerical_grad_refuses_what_it_cannot_perturb_or_would_sum_wrongly():
    a = np.ones((3, 4))
    with pytest.raises(ValueError, match=r"dy has shape \(3, 1\), but f\(\) returns shape \(3, 4\)"):
        numerical_grad(lambda: a * 2, a, np.ones((3, 1)))          # would broadcast: another sum
    with pytest.raises(TypeError, match="must be a NumPy array that f reads.*got list"):
        numerical_grad(lambda: 0.0, [1.0, 2.0], 1.0)
    ro = np.ones(3)
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="the array is read-only"):
        numerical_grad(lambda: ro, ro, 1.0)
    with pytest.raises(TypeError, match="f\\(\\) must return numbers, got NoneType"):
        numerical_grad(lambda: None, np.ones(3), 1.0)
    with pytest.raises(ValueError, match=r"direction v has shape \(4,\), expected \(3, 4\)"):
        directional_grad(lambda: a, a, 1.0, np.ones(4))


def test_numerical_grad_refuses_an_array_it_would_perturb_through_a_copy():
    a = np.arange(12.0).reshape(3, 4).T
    with pytest.raises(ValueError, match="numerical_grad: the array must be contiguous"):
        numerical_grad(lambda: a ** 2, a, 1.0)


@pytest.mark.parametrize("eps", [float("inf"), True])
def test_an_infinite_or_boolean_eps_is_refused(eps):
    x = np.random.default_rng(0).standard_normal((4, 3))
    with pytest.raises(ValueError, match=f"check_layer: eps must be a finite step > 0, got {eps}"):
        check_layer(mc.Tanh(), x, eps=eps)


def test_tol_zero_is_allowed_and_an_error_equal_to_tol_passes():
    x = np.random.default_rng(0).standard_normal((4, 3))
    errors = check_layer(mc.Tanh(), x, tol=0, raise_on_fail=False)
    worst = max(errors.values())
    assert worst > 0
    assert check_layer(mc.Tanh(), x, tol=worst) == errors


def test_check_model_randomises_zero_parameters_in_every_layer():
    model = mc.Sequential(mc.Dense(3, 3, rng=0), Squared())
    x = np.random.default_rng(0).standard_normal((2, 3))
    with pytest.raises(GradientCheckError) as info:
        check_model(model, mc.SoftmaxCrossEntropy(), x, np.array([0, 2]))
    assert info.value.errors["1.c"] > 1e-2


def test_only_all_zero_parameters_are_randomised():
    from minicirc.gradcheck import _randomise_zeros

    p = {"a": np.array([0.0, 1.0, 2.0]), "b": np.zeros(2)}
    _randomise_zeros(p, np.random.default_rng(0))
    np.testing.assert_array_equal(p["a"], [0.0, 1.0, 2.0])
    assert np.all(p["b"] != 0)


def test_the_first_layers_dx_is_checked_too():
    model = mc.Sequential(NarrowDx(), mc.Dense(5, 3, rng=0))
    model.forward(np.ones((4, 5)))
    with pytest.raises(ValueError, match=r"layer 0 \(NarrowDx\(\)\) backward returned shape \(4, 4\); "
                                         r"expected dx of shape \(4, 5\)"):
        model.backward(np.ones((4, 3)))
