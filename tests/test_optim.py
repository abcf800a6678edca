"""Optimizers against hand computations, and a small model that learns."""
import numpy as np
import pytest

import minicirc as mc
from minicirc.optim import cosine_lr


class Fixed:
    """A model with one parameter and a gradient we set by hand."""

    def __init__(self, p, grads):
        self.p, self.grads, self.k = p, grads, 0

    def named_parameters(self):
        yield "w", self.p

    def named_grads(self):
        yield "w", self.grads[min(self.k, len(self.grads) - 1)]


def run(opt_factory, grads, p0):
    model = Fixed(np.array(p0, dtype=np.float64), [np.array(g, dtype=np.float64) for g in grads])
    opt = opt_factory(model)
    out = []
    for k in range(len(grads)):
        model.k = k
        opt.step()
        out.append(model.p.copy())
    return out


GRADS = [[1.0, -2.0], [0.5, 0.5], [-1.0, 3.0]]


def test_sgd_plain():
    out = run(lambda m: mc.SGD(m, lr=0.1), GRADS, [1.0, 1.0])
    p = np.array([1.0, 1.0])
    for g, got in zip(GRADS, out):
        p = p - 0.1 * np.array(g)
        np.testing.assert_allclose(got, p, rtol=1e-15)


@pytest.mark.parametrize("nesterov", [False, True])
def test_sgd_momentum_weight_decay(nesterov):
    lr, mu, wd = 0.1, 0.9, 0.01
    out = run(lambda m: mc.SGD(m, lr=lr, momentum=mu, nesterov=nesterov, weight_decay=wd), GRADS, [1.0, -1.0])
    p, v = np.array([1.0, -1.0]), None
    for g, got in zip(GRADS, out):
        g = np.array(g) + wd * p
        v = g.copy() if v is None else mu * v + g
        p = p - lr * ((g + mu * v) if nesterov else v)
        np.testing.assert_allclose(got, p, rtol=1e-14)


def test_adamw_decouples_weight_decay():
    lr, b1, b2, eps, wd = 0.01, 0.9, 0.999, 1e-8, 0.1
    out = run(lambda m: mc.AdamW(m, lr=lr, weight_decay=wd), GRADS, [0.5, 2.0])
    p, m, v = np.array([0.5, 2.0]), np.zeros(2), np.zeros(2)
    for t, (g, got) in enumerate(zip(GRADS, out), start=1):
        g = np.array(g)
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        mhat, vhat = m / (1 - b1 ** t), v / (1 - b2 ** t)
        p = p - lr * (mhat / (np.sqrt(vhat) + eps) + wd * p)
        np.testing.assert_allclose(got, p, rtol=1e-14)
    # First Adam step moves each weight by about lr, whatever the gradient's scale
    first = run(lambda m: mc.Adam(m, lr=lr), [[1e-3, 1e3]], [0.0, 0.0])[0]
    np.testing.assert_allclose(np.abs(first), [lr, lr], rtol=1e-4)


def test_adam_adds_weight_decay_to_the_gradient_as_pytorch_does():
    """Adam's weight_decay is L2: wd * p joins g before the moments (torch.optim.Adam)."""
    lr, b1, b2, eps, wd = 0.01, 0.9, 0.999, 1e-8, 0.1
    out = run(lambda m: mc.Adam(m, lr=lr, weight_decay=wd), GRADS, [0.5, 2.0])
    p, m, v = np.array([0.5, 2.0]), np.zeros(2), np.zeros(2)
    for t, (g, got) in enumerate(zip(GRADS, out), start=1):
        g = np.array(g) + wd * p
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        mhat, vhat = m / (1 - b1 ** t), v / (1 - b2 ** t)
        p = p - lr * mhat / (np.sqrt(vhat) + eps)
        np.testing.assert_allclose(got, p, rtol=1e-14)
    # and it is not AdamW's: the two differ from the first step on
    decoupled = run(lambda m: mc.AdamW(m, lr=lr, weight_decay=wd), GRADS, [0.5, 2.0])
    assert not np.allclose(out[0], decoupled[0], rtol=1e-6)


def test_adam_defaults_are_pytorchs():
    model = mc.Sequential(mc.Dense(2, 2))
    assert mc.Adam(model).weight_decay == 0.0 and mc.AdamW(model).weight_decay == 0.01
    # without decay the two are one optimizer
    a = run(lambda m: mc.Adam(m, lr=0.01), GRADS, [0.5, 2.0])
    w = run(lambda m: mc.AdamW(m, lr=0.01, weight_decay=0.0), GRADS, [0.5, 2.0])
    np.testing.assert_array_equal(a, w)


def test_cosine_schedule():
    assert cosine_lr(1.0, 0, 100) == 1.0
    assert cosine_lr(1.0, 50, 100) == pytest.approx(0.5)
    assert cosine_lr(1.0, 100, 100) == pytest.approx(0.0)
    assert cosine_lr(1.0, 0, 100, warmup=10) == pytest.approx(0.1)


@pytest.mark.parametrize("make_opt", [lambda m: mc.Adam(m, lr=3e-3), lambda m: mc.SGD(m, lr=0.02, momentum=0.9, nesterov=True)])
def test_small_model_learns_a_synthetic_task(make_opt):
    """Circulant + ReLU + Dense on a random linear-teacher task: the loss falls far below its start."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((512, 32)).astype(np.float32)
    teacher = rng.standard_normal((32, 4))
    t = (X @ teacher).argmax(1)
    model = mc.Sequential(mc.Circulant(32, 64, rng=1), mc.ReLU(), mc.Circulant(64, rng=2), mc.ReLU(),
                          mc.Dense(64, 4, rng=3))
    loss, opt = mc.SoftmaxCrossEntropy(), make_opt(model)
    start = loss.forward(model.forward(X), t)
    for epoch in range(60):
        for i in range(0, 512, 64):
            loss.forward(model.forward(X[i:i + 64]), t[i:i + 64])
            model.backward(loss.backward())
            opt.step()
    end = loss.forward(model.forward(X), t)
    assert start > 1.0 and end < 0.2 * start
    assert (model.forward(X).argmax(1) == t).mean() > 0.9


def test_initialisation_keeps_variance_through_a_deep_stack():
    """gain=2 (He) keeps the second moment through 10 ReLU layers; gain=1 halves it each layer."""
    x = np.random.default_rng(0).standard_normal((256, 512)).astype(np.float32)
    for cls in (mc.Circulant, lambda d, **k: mc.Dense(d, d, **k)):
        h = x
        for i in range(10):
            h = mc.ReLU().forward(cls(512, rng=i, gain=2.0).forward(h))
        ratio = np.mean(h ** 2) / np.mean(x ** 2)
        assert 0.5 < ratio < 2.0, ratio
        h = x
        for i in range(10):
            h = mc.ReLU().forward(cls(512, rng=i, gain=1.0).forward(h))
        assert np.mean(h ** 2) / np.mean(x ** 2) < 0.01


def small_model_and_data():
    rng = np.random.default_rng(0)
    X, t = rng.standard_normal((16, 8)).astype(np.float32), rng.integers(0, 3, 16)
    return mc.Sequential(mc.Circulant(8, rng=0), mc.ReLU(), mc.Dense(8, 3, rng=1)), X, t


def train_steps(model, opt, X, t, k):
    loss = mc.SoftmaxCrossEntropy()
    for _ in range(k):
        loss.forward(model.forward(X), t)
        model.backward(loss.backward())
        opt.step()


@pytest.mark.parametrize("make_opt", [lambda m: mc.Adam(m, lr=1e-2), lambda m: mc.SGD(m, lr=0.1, momentum=0.9)])
def test_saved_optimizer_state_resumes_exactly(tmp_path, make_opt):
    """Through a checkpoint, as a user of the API resumes: the step count t (Adam's bias
    correction) comes back with the moments, and the next step is the uninterrupted one."""
    from minicirc.mnist.checkpoint import load_into, read_checkpoint, save_checkpoint

    a, X, t = small_model_and_data()
    oa = make_opt(a)
    train_steps(a, oa, X, t, 5)
    assert oa.state_arrays()["t"].shape == () and oa.state_arrays()["t"].dtype == np.int64
    save_checkpoint(tmp_path / "c.npz", a, {}, oa)
    b, _, _ = small_model_and_data()
    ob = make_opt(b)
    load_into(b, read_checkpoint(tmp_path / "c.npz")[1], optimizer=ob)
    assert ob.t == oa.t == 5
    train_steps(a, oa, X, t, 1)
    train_steps(b, ob, X, t, 1)
    for (name, pa), (_, pb) in zip(a.named_parameters(), b.named_parameters()):
        np.testing.assert_array_equal(pa, pb, err_msg=name)


def test_state_without_a_step_count_leaves_t_alone():
    """Checkpoints written before t was saved: the caller (the trainer reads its metadata) sets t."""
    model, X, t = small_model_and_data()
    opt = mc.Adam(model, lr=1e-2)
    train_steps(model, opt, X, t, 3)
    old = {k: v for k, v in opt.state_arrays().items() if k != "t"}
    other = mc.Adam(small_model_and_data()[0], lr=1e-2)
    other.t = 7
    other.load_state_arrays(old)
    assert other.t == 7 and set(other.state) == set(opt.state)
    with pytest.raises(ValueError, match=r"Adam: the step count 't' must be a non-negative integer scalar, got float64"):
        other.load_state_arrays({**old, "t": np.array(2.5)})
    assert other.t == 7


@pytest.mark.parametrize("make_opt", [lambda m: mc.Adam(m, lr=1e-2), lambda m: mc.SGD(m, lr=0.1, momentum=0.9)])
def test_a_step_that_fails_changes_nothing(make_opt):
    model, X, t = small_model_and_data()
    opt = make_opt(model)
    train_steps(model, opt, X, t, 2)
    before = ([p.copy() for p in model.parameters()],
              {k: v.copy() for k, v in opt.state_arrays().items()})

    def unchanged():
        assert opt.t == 2
        for p, q in zip(before[0], model.parameters()):
            np.testing.assert_array_equal(p, q)
        for k, v in opt.state_arrays().items():
            np.testing.assert_array_equal(v, before[1][k])

    model[2].grads.pop("b")                                  # the last parameter has no gradient
    with pytest.raises(RuntimeError, match="'2.b' has no gradient"):
        opt.step()
    unchanged()
    model[2].grads["b"] = np.ones((1, 3), np.float32)        # a stray keepdims axis
    with pytest.raises(ValueError, match=r"gradient of '2.b' has shape \(1, 3\), expected \(3,\)"):
        opt.step()
    unchanged()
