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
