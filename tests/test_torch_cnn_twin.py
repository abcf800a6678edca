"""The PyTorch twins of build_cnn: with minicirc's weights copied in, the same logits, loss and
every gradient (float64); drawn from their own seed, the same initial distributions."""
import numpy as np
import pytest

from minicirc import SoftmaxCrossEntropy
from minicirc.mnist.models import build_cnn

torch = pytest.importorskip("torch", reason="PyTorch is the benchmarks' reference (pip install torch)")

from benchmarks.torch_models import (TorchBlockCirculant, TorchCirculant, build_torch_cnn,  # noqa: E402
                                     copy_weights, twin_arrays)

# hidden 900 > 800 zero-pads the circulant head's input; block 64 pads 800 inputs to 832 and
# crops 512 outputs to 500; block 7 divides neither width.
HEADS = [("dense", {}), ("circulant", {}), ("circulant", {"hidden": 900}), ("circulant", {"sign_flip": False}),
         ("block", {"block": 64}), ("block", {"block": 7, "hidden": 60})]


def twins(head, kwargs, seed=0):
    ours = build_cnn(head, rng=seed, dtype=np.float64, **kwargs)
    twin = build_torch_cnn(head, seed=seed + 1, **kwargs).double()
    return ours, twin


@pytest.mark.parametrize("head, kwargs", HEADS)
def test_twin_with_copied_weights_computes_the_same_outputs_and_gradients(head, kwargs):
    ours, twin = twins(head, kwargs)
    # a twin's own draws differ from minicirc's: the copy is what makes them equal
    assert not np.array_equal(twin_arrays(ours, twin)["0.W"], dict(ours.named_parameters())["0.W"])
    copy_weights(ours, twin)
    mine = dict(ours.named_parameters())
    copied = twin_arrays(ours, twin)
    assert copied.keys() == mine.keys() and sum(p.numel() for p in twin.parameters()) == ours.num_params()
    for name in mine:
        np.testing.assert_array_equal(copied[name], mine[name], err_msg=name)

    rng = np.random.default_rng(3)
    x = rng.random((5, 1, 28, 28))
    t = rng.integers(0, 10, 5)
    loss = SoftmaxCrossEntropy()
    assert ours.backward is not None and ours.input_grad is False    # build_cnn skips the images' dx
    ours[0].input_grad = True                                        # ... which is compared here
    z = ours.train().forward(x)
    value = loss(z, t)
    dx = ours.backward(loss.backward())

    xt = torch.from_numpy(x).requires_grad_(True)
    zt = twin.train()(xt)
    vt = torch.nn.functional.cross_entropy(zt, torch.from_numpy(t))
    vt.backward()

    def close(got, want, what):
        scale = max(np.abs(want).max(), 1e-300)
        assert np.abs(got - want).max() <= 1e-10 * scale, f"{head} {kwargs}: {what} differs"

    close(zt.detach().numpy(), z, "the logits")
    close(vt.item(), float(value), "the loss")
    close(xt.grad.numpy(), dx, "the input gradient")
    theirs = twin_arrays(ours, twin, grads=True)
    for name, g in ours.named_grads():
        close(theirs[name], g, f"the gradient of {name}")


def test_a_twin_that_differs_is_caught():
    """The comparison can fail: a twin whose head drops its sign flips computes otherwise."""
    ours, twin = twins("circulant", {})
    copy_weights(ours, twin)
    with torch.no_grad():
        twin[7].s.fill_(1.0)
    x = np.random.default_rng(0).random((2, 1, 28, 28))
    z = ours.eval().forward(x)
    assert np.abs(twin.eval()(torch.from_numpy(x)).detach().numpy() - z).max() > 1e-3 * np.abs(z).max()


def _stats(arrays):
    return {name: (float(np.mean(v)), float(np.std(v)), float(np.abs(v).max())) for name, v in arrays.items()}


@pytest.mark.parametrize("head, kwargs", [("dense", {}), ("circulant", {}), ("block", {"block": 20})])
def test_twin_draws_from_the_same_initial_distributions(head, kwargs):
    """Mean, spread and range of every parameter match minicirc's (each drawn from its own
    seed); biases are zero and signs +-1 on both sides."""
    ours = build_cnn(head, rng=0, dtype=np.float64, **kwargs)
    twin = build_torch_cnn(head, seed=0, **kwargs).double()
    mine, theirs = dict(ours.named_parameters()), twin_arrays(ours, twin)
    assert mine.keys() == theirs.keys()
    for name, v in mine.items():
        w = theirs[name]
        assert w.shape == v.shape, name
        if name.endswith(".b"):
            assert not w.any() and not v.any(), name
            continue
        sd = np.std(v)
        # the standard error of a standard deviation over N draws is about sd / sqrt(2 N)
        assert abs(np.std(w) - sd) < 6 * sd / np.sqrt(2 * v.size), name
        assert abs(np.mean(w)) < 6 * sd / np.sqrt(v.size), name
        if name in ("0.W", "3.W"):                     # the convolutions: uniform on the same range
            a = np.sqrt(3 * 2.0 / np.prod(v.shape[1:]))
            assert np.abs(w).max() <= a and np.abs(v).max() <= a and np.abs(w).max() > 0.95 * a, name
    fc = twin[7]
    if isinstance(fc, (TorchCirculant, TorchBlockCirculant)):
        s = fc.s.numpy()
        assert set(np.unique(s)) == {-1.0, 1.0} and abs(s.mean()) < 0.2
        assert s.shape == (800,)


@pytest.mark.parametrize("kwargs, message", [
    ({"head": "conv"}, "unknown head 'conv'"),
    ({"head": "block"}, "block"),
    ({"head": "dense", "hidden": 0}, "hidden"),
    ({"head": "dense", "dropout": 1.5}, "dropout"),
])
def test_build_torch_cnn_refuses_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        build_torch_cnn(**kwargs)


def test_copy_weights_refuses_a_model_that_is_no_twin():
    ours = build_cnn("dense", rng=0, dropout=0.5)
    with pytest.raises(ValueError, match="not twins: 11 minicirc layers, 10 PyTorch modules"):
        copy_weights(ours, build_torch_cnn("dense"))
