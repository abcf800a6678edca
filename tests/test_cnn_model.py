"""build_cnn: the LeNet trunk with a dense, circulant or block-circulant fully-connected head."""
import numpy as np
import pytest

import minicirc as mc
from minicirc.gradcheck import check_model
from minicirc.mnist.models import CNN_FEATURES, build_cnn

FC = (mc.Dense, mc.Circulant, mc.BlockCirculant)


def fully_connected(model):
    return sum(layer.num_params() for layer in model.layers if isinstance(layer, FC))


def total(model):
    return sum(layer.num_params() for layer in model.layers)


@pytest.mark.parametrize("head, kwargs", [("dense", {}), ("circulant", {}), ("block", {"block": 20})])
def test_shapes(head, kwargs):
    model = build_cnn(head, rng=0, **kwargs)
    x = np.random.default_rng(0).standard_normal((3, 1, 28, 28)).astype(np.float32)
    shapes = []
    for layer in model.layers:
        x = layer.forward(x)
        shapes.append(x.shape)
    assert shapes[:7] == [(3, 20, 24, 24), (3, 20, 12, 12), (3, 20, 12, 12), (3, 50, 8, 8), (3, 50, 4, 4),
                          (3, 50, 4, 4), (3, CNN_FEATURES)]
    assert [type(model[i]).__name__ for i in (1, 2, 4, 5)] == ["MaxPool2D", "ReLU", "MaxPool2D", "ReLU"]
    assert shapes[7:] == [(3, 500), (3, 500), (3, 10)] and x.dtype == np.float32
    # the first convolution skips the images' gradient, which nothing consumes; asked, it gives it
    assert model.input_grad is False and model.backward(np.ones((3, 10), np.float32)) is None
    model[0].input_grad = True
    assert model.backward(np.ones((3, 10), np.float32)).shape == (3, 1, 28, 28)


def test_parameter_counts():
    conv = (20 * 1 * 25 + 20) + (50 * 20 * 25 + 50)               # 25,570 in the trunk
    out = 500 * 10 + 10
    dense, circ = build_cnn("dense", rng=0), build_cnn("circulant", rng=0)
    block = build_cnn("block", block=20, rng=0)
    assert fully_connected(dense) == 800 * 500 + 500 + out
    assert fully_connected(circ) == 800 + 500 + out                 # r has n = max(800, 500) entries
    assert fully_connected(block) == 25 * 40 * 20 + 500 + out       # p = 500/20 block rows, q = 800/20
    for model in (dense, circ, block):
        assert total(model) == conv + fully_connected(model) == model.num_params()
    head = {name: m.layers[7].num_params() for name, m in (("dense", dense), ("circulant", circ))}
    assert head["dense"] >= 50 * head["circulant"]                  # 400,500 against 1,300
    assert fully_connected(dense) >= 50 * fully_connected(circ)     # the output layer included
    assert isinstance(circ.layers[7], mc.Circulant) and circ.layers[7].n == 800


@pytest.mark.parametrize("head, kwargs", [("dense", {}), ("circulant", {"dropout": 0.3}), ("block", {"block": 16})])
def test_check_model_float64(head, kwargs):
    """Central differences through every layer, on a tiny batch, one random direction per array
    (the full check would perturb 431,080 weights one at a time)."""
    model = build_cnn(head, hidden=24, rng=1, dtype=np.float64, **kwargs)
    x = np.random.default_rng(2).standard_normal((2, 1, 28, 28))
    errors = check_model(model, mc.SoftmaxCrossEntropy(), x, np.array([3, 7]), directional=True)
    head_param = "7.W" if head == "dense" else "7.r"
    assert {"0.W", "3.W", head_param, "10.W" if kwargs.get("dropout") else "9.W"} <= set(errors)
    assert "dx" not in errors                          # input_grad=False: the images have no gradient


def test_seed_and_defaults():
    a, b = build_cnn(rng=5), build_cnn(rng=5)
    for (n, p), (_, q) in zip(a.named_parameters(), b.named_parameters()):
        np.testing.assert_array_equal(p, q, err_msg=n)
    assert not np.array_equal(a.layers[0].params["W"], build_cnn(rng=6).layers[0].params["W"])
    assert isinstance(a.layers[7], mc.Circulant) and a.layers[7].sign_flip
    assert not build_cnn(sign_flip=False).layers[7].signs.min() < 0


@pytest.mark.parametrize("kwargs, message", [
    (dict(head="hybrid"), "build_cnn: unknown head 'hybrid'; choose one of dense, circulant, block"),
    (dict(head="block"), "kind 'block': block must be a positive integer, got None"),
    (dict(hidden=0), "hidden must be a positive integer, got 0"),
    (dict(dropout=1.0), r"dropout must be a number in \[0, 1\)"),
    (dict(rng=-1), r"build_cnn: rng must be None or a seed \(an integer >= 0\), got -1"),
])
def test_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        build_cnn(**kwargs)


@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_pooling_before_relu_is_lenets_relu_before_pooling(backend):
    """build_cnn pools before each ReLU; swapped back to LeNet's conv, ReLU, pool, the model
    gives the same logits and the same gradients bit for bit, windows of all-negative numbers,
    ties and zeros included."""
    model = build_cnn("circulant", hidden=40, rng=3, dtype=np.float64, backend=backend)
    lenet = build_cnn("circulant", hidden=40, rng=3, dtype=np.float64, backend=backend)
    lenet.layers[1:3], lenet.layers[4:6] = lenet.layers[2:0:-1], lenet.layers[5:3:-1]
    assert [type(m).__name__ for m in lenet.layers[:6]] == ["Conv2D", "ReLU", "MaxPool2D"] * 2
    rng = np.random.default_rng(4)
    x = np.round(rng.standard_normal((6, 1, 28, 28)), 1)     # rounded: many ties inside windows
    x[0] = -1.0                                               # every first-layer window negative
    x[1, 0, :4, :4] = 0.0
    loss = mc.SoftmaxCrossEntropy()
    t = rng.integers(0, 10, 6)
    values = [loss(m.train().forward(x), t) for m in (model, lenet)]
    for m in (model, lenet):
        m[0].input_grad = True
    dxs = []
    for m in (model, lenet):
        loss(m.forward(x), t)
        dxs.append(m.backward(loss.backward()))
    assert values[0] == values[1]
    np.testing.assert_array_equal(dxs[0], dxs[1])
    grads = [dict(m.named_grads()) for m in (model, lenet)]
    assert grads[0].keys() == grads[1].keys()                 # the parameter layers keep their indices
    for name in grads[0]:
        np.testing.assert_array_equal(grads[0][name], grads[1][name], err_msg=name)
