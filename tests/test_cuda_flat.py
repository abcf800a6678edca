"""The buffer plan of a captured CUDA step (minicirc.backends.cuda.flat), on NumPy arrays:
array bookkeeping only, the same on CuPy, so it is checked here on the CPU."""
import numpy as np
import pytest

from minicirc import SGD, AdamW, Circulant, Dense, ReLU, Sequential, SoftmaxCrossEntropy
from minicirc.backends.cuda.flat import FlatParams


def model(dtype=np.float32):
    return Sequential(Circulant(6, 8, rng=0, dtype=dtype), ReLU(), Dense(8, 3, rng=1, dtype=dtype),
                      Dense(3, 2, bias=False, rng=2, dtype=dtype))


def backward(m, rng):
    x = rng.standard_normal((4, 6)).astype(np.float32)
    loss = SoftmaxCrossEntropy()
    loss.forward(m.forward(x), rng.integers(0, 2, 4))
    m.backward(loss.backward())


def test_rebinding_keeps_every_value_and_makes_views():
    m = model()
    before = {n: p.copy() for n, p in m.named_parameters()}
    x = np.random.default_rng(3).standard_normal((5, 6)).astype(np.float32)
    y = m.forward(x)
    flat = FlatParams(m)
    assert flat.size == sum(p.size for p in before.values()) and flat.p.dtype == np.float32
    assert flat.names == list(before)
    for n, p in m.named_parameters():
        np.testing.assert_array_equal(p, before[n])
        assert np.shares_memory(p, flat.p), n
    np.testing.assert_array_equal(m.forward(x), y)
    # in order, end to end, no gap
    np.testing.assert_array_equal(flat.p, np.concatenate([before[n].ravel() for n in flat.names]))
    flat.p[:] = 0                                   # the optimizer's in-place write reaches the layers
    assert all(not p.any() for _, p in m.named_parameters())
    assert flat.is_bound(m)
    m[0].params["r"] = m[0].params["r"].copy()
    assert not flat.is_bound(m)


def test_gather_grads_puts_each_gradient_at_its_offset():
    m = model()
    flat = FlatParams(m)
    with pytest.raises(RuntimeError, match="has no gradient; run backward"):
        flat.gather_grads(m)
    backward(m, np.random.default_rng(0))
    g = flat.gather_grads(m)
    for i, (n, want) in enumerate(m.named_grads()):
        np.testing.assert_array_equal(g[flat.offsets[i]:flat.offsets[i + 1]], want.ravel(), err_msg=n)


def test_optimizer_state_round_trips():
    rng = np.random.default_rng(1)
    m = model()
    opt = AdamW(m, lr=0.01)
    backward(m, rng)
    opt.step()
    opt.step()
    flat = FlatParams(m)
    state = flat.state_from(opt)
    assert set(state) == {"m", "v"}
    other = AdamW(m, lr=0.01)
    flat.state_to(other, state, opt.t)
    assert other.t == 2
    for n, slots in opt.state.items():
        for slot, v in slots.items():
            np.testing.assert_array_equal(other.state[n][slot], v)
    fresh = flat.state_from(SGD(m, lr=0.1, momentum=0.9))
    assert set(fresh) == {"v"} and not fresh["v"].any()
    assert flat.state_from(SGD(m, lr=0.1)) == {}                 # no momentum, no state
    flat.state_to(other, state, 0)
    assert other.state == {} and other.t == 0


def test_refusals_name_the_problem():
    with pytest.raises(ValueError, match="share one dtype"):
        FlatParams(Sequential(Dense(3, 2, dtype=np.float32), Dense(2, 2, dtype=np.float64)))
    with pytest.raises(ValueError, match="no parameters"):
        FlatParams(Sequential(ReLU()))

    class Other:
        state = {}
    m = model()
    with pytest.raises(ValueError, match="no fused update for Other"):
        FlatParams(m).state_from(Other())
