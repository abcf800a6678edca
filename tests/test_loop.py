"""minicirc.fit: the generic training loop, on a tiny synthetic problem."""
import numpy as np
import pytest

import minicirc as mc


def xor(n=256, d=6, seed=0):
    """Class 1 where the first two features have the same sign: no straight line separates
    the classes, so a model must use its hidden layer to learn them."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, d)).astype(np.float32)
    return x, (x[:, 0] * x[:, 1] > 0).astype(np.int64)


def xor_model(seed=0):
    model = mc.Sequential(mc.Dense(6, 32, rng=seed), mc.ReLU(), mc.Dense(32, 2, rng=seed + 1))
    return model, mc.SoftmaxCrossEntropy(), mc.Adam(model, lr=0.01)


def test_fit_learns_a_separable_problem():
    x, y = xor()
    model, loss, opt = xor_model()
    history = mc.fit(model, loss, opt, x, y, epochs=40, batch_size=16, progress=False)
    assert [r["epoch"] for r in history] == list(range(1, 41))
    assert history[0]["loss"] > 0.6 and history[-1]["loss"] < 0.05        # chance is log 2 = 0.69
    assert (model(x).argmax(axis=1) == y).mean() > 0.98
    assert opt.t == 40 * 16                                                # 256 / 16 steps an epoch


def test_fit_is_the_train_step_loop_over_seeded_batches():
    """The same run by hand: Batches with the same seed, train_step per batch, gives the same weights."""
    from minicirc.batches import Batches

    x, y = xor(n=50)
    a, loss_a, opt_a = xor_model()
    history = mc.fit(a, loss_a, opt_a, x, y, epochs=2, batch_size=8, seed=3, progress=False)
    b, loss_b, opt_b = xor_model()
    batches = Batches(x, y, 8, seed=3)
    for _ in range(2):
        values = [mc.train_step(b, loss_b, opt_b, xb, yb) * len(xb) for xb, yb in batches]
    assert history[-1]["loss"] == pytest.approx(float(sum(values)) / 50, rel=1e-6)
    for (name, p), (_, q) in zip(a.named_parameters(), b.named_parameters()):
        np.testing.assert_array_equal(p, q, err_msg=name)


def test_on_epoch_sees_each_record_adds_to_it_and_stops_training():
    x, y = xor(n=64)
    model, loss, opt = xor_model()
    seen = []

    def on_epoch(record):
        seen.append(record["epoch"])
        record["accuracy"] = float((model(x).argmax(axis=1) == y).mean())
        return record["epoch"] == 3                     # stop after the third epoch

    history = mc.fit(model, loss, opt, x, y, epochs=10, batch_size=16, progress=False, on_epoch=on_epoch)
    assert seen == [1, 2, 3] and len(history) == 3 and opt.t == 3 * 4
    assert all("accuracy" in r for r in history)


def test_train_step_runs_before_update_ahead_of_the_weights():
    x, y = xor(n=8)
    model, loss, opt = xor_model()
    before = [p.copy() for p in model.parameters()]

    def refuse(value, output):
        assert output.shape == (8, 2) and np.isfinite(value)
        raise RuntimeError("stop here")

    with pytest.raises(RuntimeError, match="stop here"):
        mc.train_step(model, loss, opt, x, y, before_update=refuse)
    assert opt.t == 0
    for p, q in zip(before, model.parameters()):
        np.testing.assert_array_equal(p, q)


@pytest.mark.parametrize("progress", [True, False])
def test_progress_bar_on_and_off(progress, capsys):
    x, y = xor(n=32)
    model, loss, opt = xor_model()
    mc.fit(model, loss, opt, x, y, epochs=2, batch_size=8, progress=progress)
    err = capsys.readouterr().err
    assert ("epoch 2/2" in err) == progress and ("batch" in err) == progress


def test_no_progress_bar_off_a_terminal_by_default(capsys):
    x, y = xor(n=32)
    model, loss, opt = xor_model()
    mc.fit(model, loss, opt, x, y, epochs=1, batch_size=8)        # pytest's stderr is no terminal
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize("change, error, message", [
    (dict(y=np.zeros(9, np.int64)), ValueError, "fit: x has 10 samples but y has 9"),
    (dict(x=np.zeros((0, 6), np.float32), y=np.zeros(0, np.int64)), ValueError, "fit: x and y have no samples"),
    (dict(x=[[0.0] * 6] * 10), TypeError, "fit: x must be an array .* got list"),
    (dict(epochs=0), ValueError, "fit: epochs must be a positive integer, got 0"),
    (dict(epochs=2.5), ValueError, "fit: epochs must be a positive integer, got 2.5"),
    (dict(epochs=True), ValueError, "fit: epochs must be a positive integer, got True"),
    (dict(batch_size=0), ValueError, "fit: batch_size must be a positive integer, got 0"),
    (dict(batch_size=8.0), ValueError, "fit: batch_size must be a positive integer, got 8.0"),
    (dict(loss=None), TypeError, r"fit: loss must have __call__\(\), backward\(\); got NoneType"),
    (dict(optimizer="sgd"), TypeError, r"fit: optimizer must have step\(\); got str"),
    (dict(model=np.zeros(3)), TypeError, r"fit: model must have forward\(\), backward\(\), train\(\)"),
    (dict(on_epoch=3), TypeError, "fit: on_epoch must be a function"),
])
def test_bad_arguments_are_refused_by_name_before_any_step(change, error, message):
    model, loss, opt = xor_model()
    args = dict(model=model, loss=loss, optimizer=opt, x=np.zeros((10, 6), np.float32),
                y=np.zeros(10, np.int64), epochs=1, batch_size=4, progress=False)
    args.update(change)
    with pytest.raises(error, match=message):
        mc.fit(args.pop("model"), args.pop("loss"), args.pop("optimizer"), args.pop("x"), args.pop("y"), **args)
    assert opt.t == 0
