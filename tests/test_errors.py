"""Bad input gets an error that names the layer, what it expected and what it got."""
import re

import numpy as np
import pytest

import minicirc as mc


@pytest.mark.parametrize("make", [lambda: mc.Circulant(6, 4), lambda: mc.Dense(6, 4)])
def test_layer_input_errors(make):
    layer = make()
    name = type(layer).__name__
    with pytest.raises(ValueError, match=rf"{name}\(6, 4\).*\(batch, 6\).*\(3, 5\)"):
        layer.forward(np.zeros((3, 5), np.float32))
    with pytest.raises(ValueError, match=rf"{name}.*\(batch, 6\).*\(6,\).*1-D"):
        layer.forward(np.zeros(6, np.float32))
    with pytest.raises(TypeError, match=rf"{name}.*floating.*int64"):
        layer.forward(np.zeros((3, 6), np.int64))
    with pytest.raises(ValueError, match=rf"{name}.*zero rows"):
        layer.forward(np.zeros((0, 6), np.float32))
    bad = np.zeros((2, 6), np.float32); bad[1, 3] = np.nan
    with pytest.raises(ValueError, match=rf"{name}.*NaN or Inf"):
        layer.forward(bad)
    bad[1, 3] = np.inf
    with pytest.raises(ValueError, match="NaN or Inf"):
        layer.forward(bad)
    with pytest.raises(TypeError, match=rf"{name}.*floating-point array.*object"):
        layer.forward(object())


@pytest.mark.parametrize("layer", [mc.Circulant(4), mc.Dense(4, 4), mc.ReLU(), mc.Tanh(), mc.Sigmoid(), mc.Dropout(0.5)])
def test_backward_before_forward(layer):
    with pytest.raises(RuntimeError, match="backward.*before forward"):
        layer.backward(np.zeros((1, 4), np.float32))


def test_backward_with_wrong_dy_shape():
    layer = mc.Circulant(4, 3)
    layer.forward(np.zeros((2, 4), np.float32))
    with pytest.raises(ValueError, match=r"Circulant\(4, 3\).*dy of shape \(2, 3\).*\(2, 4\)"):
        layer.backward(np.zeros((2, 4), np.float32))


@pytest.mark.parametrize("args", [(0,), (-1, 3), (3, 0), (2.5,), (True, 3)])
def test_constructor_errors(args):
    with pytest.raises(ValueError, match="Circulant: d_(in|out) must be a positive integer"):
        mc.Circulant(*args)
    if len(args) == 2:
        with pytest.raises(ValueError, match="Dense: d_(in|out) must be a positive integer"):
            mc.Dense(*args)


def test_unknown_backend_and_dtype():
    with pytest.raises(ValueError, match="unknown backend 'tpu'.*numpy"):
        mc.Circulant(4, backend="tpu")
    with pytest.raises(TypeError, match="dtype must be float32 or float64"):
        mc.Dense(3, 3, dtype=np.float16)
    with pytest.raises(ValueError, match="Dropout: p must be a number in"):
        mc.Dropout(1.0)


def test_loss_errors():
    loss = mc.SoftmaxCrossEntropy()
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 3\).*\[0, 3\]"):
        loss.forward(np.zeros((2, 3)), np.array([0, 3]))
    with pytest.raises(ValueError, match=r"integer labels of shape \(2,\)"):
        loss.forward(np.zeros((2, 3)), np.array([0.0, 1.0]))
    with pytest.raises(ValueError, match="logits of shape"):
        loss.forward(np.zeros(3), np.array([0]))
    with pytest.raises(RuntimeError, match="before forward"):
        mc.SoftmaxCrossEntropy().backward()


def test_optimizer_errors():
    model = mc.Sequential(mc.Dense(2, 2))
    with pytest.raises(RuntimeError, match="'0.W' has no gradient"):
        mc.SGD(model, lr=0.1).step()
    with pytest.raises(ValueError, match="lr must be a positive finite number"):
        mc.Adam(model, lr=0)
    with pytest.raises(ValueError, match="nesterov"):
        mc.SGD(model, lr=0.1, nesterov=True)
    with pytest.raises(TypeError, match="Sequential: item 1"):
        mc.Sequential(mc.Dense(2, 2), "relu")


def test_float64_input_to_float32_layer_is_computed_in_float32():
    y = mc.Circulant(8).forward(np.ones((2, 8)))
    assert y.dtype == np.float32


GAINED = {"Dense": lambda g: mc.Dense(4, 3, gain=g), "Circulant": lambda g: mc.Circulant(4, 3, gain=g),
          "BlockCirculant": lambda g: mc.BlockCirculant(4, 3, 2, gain=g)}


@pytest.mark.parametrize("name", GAINED)
@pytest.mark.parametrize("gain", [0.0, -1.0, float("nan"), float("inf"), "2"])
def test_gain_must_be_a_positive_number(name, gain):
    with pytest.raises(ValueError, match=rf"^{name}: gain must be a positive finite number, got {gain!r}$"):
        GAINED[name](gain)
    GAINED[name](2)                                          # an int is a number


@pytest.mark.parametrize("dtype", [np.float16, np.int32, np.complex64])
def test_astype_refuses_what_the_constructor_refuses(dtype):
    layer = mc.Circulant(4, rng=0)
    with pytest.raises(TypeError, match=rf"Circulant: dtype must be float32 or float64, got {np.dtype(dtype)}"):
        layer.astype(dtype)
    with pytest.raises(TypeError, match=rf"Circulant: dtype must be float32 or float64, got {np.dtype(dtype)}"):
        mc.Circulant(4, dtype=dtype)
    with pytest.raises(TypeError, match="ReLU: dtype must be float32 or float64"):
        mc.Sequential(mc.ReLU()).astype(dtype)


@pytest.mark.parametrize("layer", [mc.Circulant(4, dtype=np.float64), mc.Dense(4, 4), mc.ReLU(), mc.Dropout(0.5)],
                         ids=lambda l: type(l).__name__)
def test_backward_refuses_dy_that_is_not_real(layer):
    name = type(layer).__name__
    layer.forward(np.ones((2, 4)))
    for bad in (np.ones((2, 4)) * (1 + 1j), np.ones((2, 4), dtype=bool), np.full((2, 4), "a")):
        with pytest.raises(TypeError, match=rf"{name}.*backward expected a real dy \(floating-point or integer\), got dtype {bad.dtype}"):
            layer.backward(bad)
    assert layer.backward(np.ones((2, 4), dtype=np.int64)).shape == (2, 4)   # integers are real


@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_a_value_beyond_float32_is_refused_not_made_infinite(backend):
    x = np.ones((2, 8))
    x[0, 3] = 1e39                                     # finite in float64, inf in float32
    for layer in (mc.Circulant(8, backend=backend), mc.BlockCirculant(8, 8, 4, backend=backend)):
        with pytest.raises(mc.layers.base.NonFiniteError,
                           match=rf"{type(layer).__name__}.*beyond the range of float32 .*1e\+39"):
            layer.forward(x)


@pytest.mark.parametrize("kw, message", [
    ({"hidden": 2.5}, "hidden must be a positive integer, got 2.5"),
    ({"layers": 0}, "layers must be a positive integer, got 0"),
    ({"dropout": None}, "dropout must be a number in [0, 1), got None"),
    ({"dropout": 1.0}, "dropout must be a number in [0, 1), got 1.0"),
    ({"kind": "block", "block": 2.5}, "kind 'block': block must be a positive integer, got 2.5"),
    ({"kind": "block"}, "kind 'block': block must be a positive integer, got None"),
    ({"hidden": True}, "hidden must be a positive integer, got True"),
])
def test_architecture_refuses_what_it_would_otherwise_round_or_crash_on(kw, message):
    from minicirc.mnist.models import architecture

    with pytest.raises(ValueError, match=re.escape(message)):
        architecture(**kw)


def test_batches_refuse_what_is_not_an_array():
    from minicirc.batches import Batches

    X = np.zeros((4, 3), np.float32)
    with pytest.raises(TypeError, match="Batches: X must be an array .* got list"):
        Batches([[1], [2]], np.array([1, 2]), 1)
    with pytest.raises(TypeError, match="Batches: y must be an array .* got NoneType"):
        Batches(X, None, 2)
    with pytest.raises(TypeError, match=r"Batches: y must be an array .* got ndarray of shape \(\)"):
        Batches(X, np.array(3), 2)


def test_a_layer_used_twice_in_a_model_is_refused():
    """One cache per layer: the second forward would overwrite the first's, and both backward
    passes (and check_model, which copies each layer apart) would go wrong silently."""
    layer = mc.Dense(6, 6, rng=0)
    with pytest.raises(ValueError, match=r"Sequential: item 2 is the same layer object as item 0 \(Dense\(6, 6\)\)"):
        mc.Sequential(layer, mc.Tanh(), layer)


def test_optimizer_state_of_a_replaced_parameter_is_not_reused():
    model = mc.Sequential(mc.Circulant(9, rng=0))
    opt = mc.Adam(model, lr=1e-3)
    loss = mc.SoftmaxCrossEntropy()
    x, t = np.random.default_rng(0).standard_normal((4, 9)), np.array([0, 1, 2, 3])
    for _ in range(2):
        loss(model(x), t)
        model.backward(loss.backward())
        if _ == 1:
            with pytest.raises(ValueError, match=r"Adam: its state 'm' for '0.r' has shape \(9,\), the parameter "
                                                 r"now \(12,\); the model changed after the optimizer was built"):
                opt.step()
        else:
            opt.step()
            model.layers[0] = mc.Circulant(9, 12, rng=1)          # replaced by hand, optimizer kept


@pytest.mark.parametrize("make, message", [
    (lambda: mc.Dense(3, 3, rng="a"), "Dense: rng must be None, a seed"),
    (lambda: mc.Circulant(3, rng=-1), "Circulant: rng must be None, a seed"),
    (lambda: mc.Dropout("a"), r"Dropout: p must be a number in \[0, 1\), got 'a'"),
    (lambda: mc.Adam(mc.Sequential(mc.Dense(2, 2)), betas=(0.9,)), r"Adam: betas must be a pair of numbers"),
    (lambda: mc.Adam(mc.Sequential(mc.Dense(2, 2)), eps=-1), "Adam: eps must be a positive finite number"),
    (lambda: mc.SGD(mc.Sequential(mc.Dense(2, 2)), lr=float("inf")), "SGD: lr must be a positive finite"),
    (lambda: mc.Dropout(0.5).train("no"), "Dropout.train: mode must be True or False, got 'no'"),
    (lambda: mc.Sequential(mc.ReLU()).train("no"), "Sequential.train: mode must be True or False"),
])
def test_constructor_arguments_are_named_when_refused(make, message):
    with pytest.raises((TypeError, ValueError), match=message):
        make()


def test_reprs_say_what_an_object_is():
    assert repr(mc.Circulant(5, 7, dtype=np.float64, backend="numba")) == \
        "Circulant(5, 7, dtype=float64, backend='numba')"
    assert repr(mc.Dense(3, 4)) == "Dense(3, 4)" and repr(mc.ReLU(dtype=np.float64)) == "ReLU(dtype=float64)"
    model = mc.Sequential(mc.Dense(2, 2))
    assert repr(mc.Adam(model, lr=0.01)) == \
        "Adam(lr=0.01, betas=(0.9, 0.999), eps=1e-08, weight_decay=0.0; 0 steps taken)"
    assert repr(mc.SGD(model, lr=0.1, momentum=0.9)).startswith("SGD(lr=0.1, momentum=0.9, nesterov=False")
    assert repr(mc.SoftmaxCrossEntropy(check_labels=False)) == "SoftmaxCrossEntropy(check_labels=False)"
    from minicirc.batches import Batches
    assert repr(Batches(np.zeros((5, 2)), np.zeros(5), 2)) == \
        "Batches(5 samples, batch_size=2, shuffle=True; epoch 0, 0 of 3 batches handed out)"


def test_a_loss_subclass_is_called_through_its_own_forward():
    class Doubled(mc.SoftmaxCrossEntropy):
        def forward(self, z, t):
            return 2 * super().forward(z, t)

    z, t = np.zeros((2, 3)), np.array([0, 1])
    assert float(Doubled()(z, t)) == pytest.approx(2 * np.log(3))


def test_the_dx_check_reads_shapes_as_the_layers_do():
    """A nested list is a valid input (layers convert it); its dx must not be refused, and a
    forward that failed half-way leaves no stale shapes behind."""
    model = mc.Sequential(mc.Dense(2, 3, rng=0), mc.ReLU(), mc.Dense(3, 2, rng=1))
    model.forward([[1.0, 2.0], [3.0, 4.0]])
    assert model.backward(np.ones((2, 2))).shape == (2, 2)
    with pytest.raises(ValueError, match="expected input of shape"):
        model.forward(np.ones((5, 3)))
    assert model.cache is None
