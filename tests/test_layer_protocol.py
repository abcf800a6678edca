"""The layer protocol: calling a layer is its forward, and parameter-free layers follow their
input's dtype unless given one."""
import copy

import numpy as np
import pytest

import minicirc as mc

LAYERS = {
    "Dense": lambda: mc.Dense(4, 3, rng=0),
    "Circulant": lambda: mc.Circulant(4, 3, rng=0),
    "BlockCirculant": lambda: mc.BlockCirculant(4, 3, 2, rng=0),
    "ReLU": mc.ReLU,
    "Tanh": mc.Tanh,
    "Sigmoid": mc.Sigmoid,
    "Dropout": lambda: mc.Dropout(0.5, rng=0),
}


@pytest.mark.parametrize("make", LAYERS.values(), ids=LAYERS.keys())
def test_calling_a_layer_is_its_forward(make):
    a = make()
    b = copy.deepcopy(a)                     # Dropout: the same generator state for both calls
    x = np.random.default_rng(1).standard_normal((5, 4)).astype(np.float32)
    np.testing.assert_array_equal(a(x), b.forward(x))
    # and the call fills the cache that backward reads
    assert a.backward(np.ones_like(a(x))).shape == x.shape


PARAMETER_FREE = {"ReLU": mc.ReLU, "Tanh": mc.Tanh, "Sigmoid": mc.Sigmoid,
                  "Dropout": lambda **k: mc.Dropout(0.3, rng=0, **k)}


@pytest.mark.parametrize("make", PARAMETER_FREE.values(), ids=PARAMETER_FREE.keys())
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_parameter_free_layers_follow_their_input_dtype(make, dtype):
    layer = make()
    assert layer.dtype is None
    x = np.random.default_rng(0).standard_normal((3, 5)).astype(dtype)
    y = layer.forward(x)
    dx = layer.backward(np.ones((3, 5)))     # a float64 dy is cast to the forward's dtype
    assert y.dtype == dx.dtype == dtype


@pytest.mark.parametrize("make", PARAMETER_FREE.values(), ids=PARAMETER_FREE.keys())
def test_an_explicit_dtype_still_casts(make):
    layer = make(dtype=np.float32)
    y = layer.forward(np.ones((2, 3)))
    assert layer.dtype == np.float32 and y.dtype == np.float32
    assert layer.backward(np.ones((2, 3))).dtype == np.float32
    assert make().forward(np.ones((2, 3), np.float16)).dtype == np.float32   # float16: computed in float32
    assert make().astype(np.float64).dtype == np.float64


def test_a_hand_built_float64_model_stays_float64():
    model = mc.Sequential(mc.Circulant(6, 8, rng=0, dtype=np.float64), mc.ReLU(), mc.Dropout(0.2, rng=1),
                          mc.Tanh(), mc.Sigmoid(), mc.Dense(8, 3, rng=2, dtype=np.float64))
    x = np.random.default_rng(0).standard_normal((4, 6))
    h = x
    for layer in model.layers:
        h = layer(h)
        assert h.dtype == np.float64, f"{layer!r} returned {h.dtype}"
    assert model.backward(np.ones((4, 3))).dtype == np.float64


def test_calling_a_model_runs_a_subclass_forward():
    class Scaled(mc.Sequential):
        def forward(self, x):
            return 2 * super().forward(x)

    m = Scaled(mc.ReLU())
    x = np.ones((1, 3), np.float32)
    np.testing.assert_array_equal(m(x), m.forward(x))


def test_a_built_model_shares_one_backend_object():
    """Built from a name per layer, a CUDA model held a backend (twiddle tables, stream
    handles) in each layer."""
    from minicirc.mnist.models import architecture, build_mlp

    model = build_mlp(architecture("circulant", hidden=32, dropout=0.1), backend="numba")
    assert len({id(layer.backend) for layer in model.layers}) == 1


# -- the PyTorch habits: nested Sequential, named arrays, state_dict ---------------------------

def nested(seed=0):
    return mc.Sequential(mc.Dense(3, 4, rng=seed), mc.Sequential(mc.Circulant(4, rng=seed + 1), mc.ReLU(),
                                                                 mc.Dropout(0.5, rng=seed + 2)),
                         mc.Dense(4, 2, rng=seed + 3))


def flat_of(model):
    return mc.Sequential(model[0], *model[1].layers, model[2])


def test_a_sequential_is_a_layer_and_nests():
    model = nested()
    assert isinstance(model, mc.Layer)
    assert [n for n, _ in model.named_parameters()] == ["0.W", "0.b", "1.0.r", "1.0.b", "2.W", "2.b"]
    assert [n for n, _ in model.named_buffers()] == ["1.0.signs"]
    assert all(g is None for _, g in model.named_grads())
    assert [id(p) for p in model.parameters()] == [id(p) for _, p in model.named_parameters()]
    assert model.num_params() == 3 * 4 + 4 + 4 + 4 + 4 * 2 + 2
    x = np.random.default_rng(0).standard_normal((5, 3)).astype(np.float32)
    dy = np.random.default_rng(1).standard_normal((5, 2)).astype(np.float32)
    reference = copy.deepcopy(model)                     # the same dropout draws, run flat
    y, dx = model(x), model.backward(dy)
    flat = flat_of(reference)
    np.testing.assert_array_equal(y, flat(x))
    np.testing.assert_array_equal(dx, flat.backward(dy))
    for (name, g), (_, h) in zip(model.named_grads(), flat.named_grads()):
        np.testing.assert_array_equal(g, h, err_msg=name)
    assert repr(model).splitlines()[2:6] == ["  (1) Sequential(", "    (0) Circulant(4, 4)", "    (1) ReLU()",
                                             "    (2) Dropout(p=0.5)"]


def test_train_eval_and_astype_reach_layers_inside_a_nested_sequential():
    model = nested()
    assert model.eval() is model and not model[1][2].training and not model[1].training
    assert model.train()[1][2].training
    model64 = model.astype(np.float64)
    assert model64.dtype is None and model64[1].dtype is None
    assert all(p.dtype == np.float64 for p in model64.parameters())
    assert all(p.dtype == np.float32 for p in model.parameters())          # the original is untouched
    assert model64[1][0].signs.dtype == np.float64
    mc.gradcheck.check_model(model64.eval(), mc.SoftmaxCrossEntropy(),
                             np.random.default_rng(0).standard_normal((3, 3)), np.array([0, 1, 1]))


def test_a_layer_used_twice_is_refused_also_inside_a_nested_sequential():
    relu = mc.ReLU()
    with pytest.raises(ValueError, match=r"Sequential: item 1.1 is the same layer object as item 0 \(ReLU\(\)\)"):
        mc.Sequential(relu, mc.Sequential(mc.Tanh(), relu))
    inner = mc.Sequential(mc.Tanh())
    with pytest.raises(ValueError, match="item 1 is the same layer object as item 0"):
        mc.Sequential(inner, inner)


def test_a_wrong_dx_inside_a_nested_sequential_is_blamed_on_its_layer():
    from minicirc.layers.sequential import DxShapeError

    class Shrinks(mc.ReLU):
        def backward(self, dy):
            return super().backward(dy)[:, :-1]

    model = mc.Sequential(mc.Dense(3, 4, rng=0), mc.Sequential(mc.Tanh(), Shrinks()))
    model(np.ones((2, 3), np.float32))
    with pytest.raises(DxShapeError, match=r"layer 1 \(Shrinks\(\)\) backward returned shape \(2, 3\)"):
        model.backward(np.ones((2, 4), np.float32))


def test_state_dict_is_a_host_copy_of_parameters_and_buffers_that_loads_back():
    a, b = nested(0), nested(10)
    state = a.state_dict()
    assert list(state) == ["0.W", "0.b", "1.0.r", "1.0.b", "1.0.signs", "2.W", "2.b"]
    assert all(isinstance(v, np.ndarray) for v in state.values())
    kept = state["0.W"].copy()
    state["0.W"] += 1                                     # a copy: the model is not changed
    assert not np.array_equal(state["0.W"], a[0].params["W"])
    state["0.W"] = kept
    W = b[0].params["W"]
    assert b.load_state_dict(state) == ([], [])
    assert b[0].params["W"] is W                          # in place: an optimizer keeps its arrays
    for (name, p), (_, q) in zip(a.state_dict().items(), b.state_dict().items()):
        np.testing.assert_array_equal(p, q, err_msg=name)
    x = np.ones((2, 3), np.float32)
    np.testing.assert_array_equal(a.eval()(x), b.eval()(x))


@pytest.mark.parametrize("change, message", [
    (lambda s: s.pop("1.0.signs"), r"missing keys \['1.0.signs'\], unexpected keys \[\]"),
    (lambda s: s.update({"3.W": np.zeros(2)}), r"missing keys \[\], unexpected keys \['3.W'\]"),
    (lambda s: s.update({"2.b": np.zeros(3, np.float32)}), r"'2.b' has shape \(3,\) in the state, the model expects \(2,\)"),
    (lambda s: s.update({"0.W": s["0.W"].astype(np.float64)}), r"'0.W' has dtype float64 in the state, the model expects float32"),
    (lambda s: s.update({"0.b": [0.0] * 4}), r"'0.b' has dtype None in the state, the model expects float32"),
])
def test_load_state_dict_names_the_key_that_does_not_fit_and_changes_nothing(change, message):
    model, state = nested(0), nested(10).state_dict()
    before = model.state_dict()
    change(state)
    with pytest.raises(ValueError, match=r"^Sequential.load_state_dict: .*" + message):
        model.load_state_dict(state)
    for name, v in model.state_dict().items():
        np.testing.assert_array_equal(v, before[name], err_msg=name)


def test_load_state_dict_not_strict_loads_what_fits_and_says_what_did_not():
    model, state = nested(0), nested(10).state_dict()
    del state["2.b"]
    state["extra"] = np.zeros(1)
    assert model.load_state_dict(state, strict=False) == (["2.b"], ["extra"])
    np.testing.assert_array_equal(model[0].params["W"], state["0.W"])
    with pytest.raises(ValueError, match="strict must be True or False"):
        model.load_state_dict(state, strict="no")
