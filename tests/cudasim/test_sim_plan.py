"""The captured step's plan (minicirc.backends.cuda.plan), run uncaptured under the simulator:
against the NumPy backend's layers, loss and optimizer taking the same steps with the same
Philox dropout masks, and resumed part-way against an uninterrupted run, bit for bit."""
import copy

import numpy as np
import pytest

from minicirc import AdamW, SGD, Dense, Dropout, ReLU, Sequential, SoftmaxCrossEntropy
from minicirc.backends import NumpyBackend
from minicirc.backends.cuda import CudaBackend, philox
from minicirc.backends.cuda.plan import StepPlan, plan_ops
from minicirc.mnist.models import architecture, build_mlp
from minicirc.optim import cosine_lr

pytestmark = pytest.mark.cudasim

SEED, TOTAL, B, D_IN = 5, 6, 6, 12


def mlp(backend, dropout=0.25):
    arch = architecture("circulant", hidden=16, layers=2, dropout=dropout, d_in=D_IN, classes=4)
    return build_mlp(arch, seed=3, backend=backend)


def batches(rng, count):
    return [(rng.standard_normal((B, D_IN)).astype(np.float32), rng.integers(0, 4, B)) for _ in range(count)]


def philox_dropouts(model, step):
    """Hand each Dropout Philox's uniforms for (SEED, step, its index): the plan's masks."""
    class Uniforms:
        def __init__(self, key):
            self.key = key

        def random(self, shape, dtype):
            words = philox.mask_words_reference(SEED, step, self.key, int(np.prod(shape)))
            return philox.uniform_reference(words).astype(dtype).reshape(shape)

    for i, layer in enumerate(model.layers):
        if isinstance(layer, Dropout):
            layer.rng = Uniforms(i)


def numpy_steps(data, lr=0.01):
    model = mlp(NumpyBackend())
    opt = AdamW(model, lr=lr, weight_decay=0.1)
    loss = SoftmaxCrossEntropy()
    total_loss, errors = 0.0, 0
    for k, (x, t) in enumerate(data):
        philox_dropouts(model, k)
        opt.lr = cosine_lr(lr, k, TOTAL)
        z = model.forward(x)
        total_loss += float(loss.forward(z, t))
        errors += int((z.argmax(axis=1) != t).sum())
        model.backward(loss.backward())
        opt.step()
    return model, total_loss, errors


def make_plan(model, lr=0.01, opt=None):
    opt = opt or AdamW(model, lr=lr, weight_decay=0.1)
    return StepPlan(model, opt, seed=SEED, schedule="cosine", base_lr=lr, total=TOTAL)


@pytest.mark.parametrize("fft", ["cufft", "own"])
def test_plan_steps_as_the_numpy_layers_and_adamw(rng, fft):
    data = batches(rng, 4)
    want, want_loss, want_errors = numpy_steps(data)
    model = mlp(CudaBackend.simulated(fft))
    plan = make_plan(model)
    for x, t in data:
        plan.run(x, t)
    assert plan.steps_taken() == 4
    for (n, w), (_, g) in zip(want.named_parameters(), model.named_parameters()):
        np.testing.assert_allclose(g, w, rtol=2e-5, atol=2e-6, err_msg=n)
    loss, errors = plan.read_metrics()
    assert errors == want_errors
    np.testing.assert_allclose(loss, want_loss, rtol=1e-5)
    assert plan.read_metrics() == (0.0, 0)                    # read and zeroed


def test_a_relu_on_image_batches_is_fused_on_its_flat_view(rng):
    from minicirc import Flatten

    def model(bk):
        return Sequential(ReLU(backend=bk), Dropout(0.5, rng=0, backend=bk), Flatten(backend=bk),
                          Dense(6, 3, rng=4, backend=bk))

    x = rng.standard_normal((5, 1, 2, 3)).astype(np.float32)
    t = rng.integers(0, 3, 5)
    ref = model(NumpyBackend())
    philox_dropouts(ref, 0)
    opt = SGD(ref, lr=0.1)
    loss = SoftmaxCrossEntropy()
    loss.forward(ref.forward(x), t)
    ref.backward(loss.backward())
    opt.step()
    dev = model(CudaBackend.simulated("cufft"))
    plan = StepPlan(dev, SGD(dev, lr=0.1), seed=SEED, schedule="constant", base_lr=0.1, total=TOTAL)
    plan.run(x, t)
    for (n, w), (_, g) in zip(ref.named_parameters(), dev.named_parameters()):
        np.testing.assert_allclose(g, w, rtol=1e-6, atol=1e-7, err_msg=n)


def test_resumed_plan_is_bit_for_bit_the_uninterrupted_one(rng):
    data = batches(rng, 4)
    whole = mlp(CudaBackend.simulated("cufft"))
    plan = make_plan(whole)
    for x, t in data:
        plan.run(x, t)

    first = mlp(CudaBackend.simulated("cufft"))
    part = make_plan(first)
    for x, t in data[:2]:
        part.run(x, t)
    opt = part.export()                                   # what a checkpoint would save
    saved = {n: p.copy() for n, p in first.named_parameters()}
    state = copy.deepcopy(opt.state_arrays())

    second = mlp(CudaBackend.simulated("cufft"))
    for (_, p), n in zip(second.named_parameters(), saved):
        p[...] = saved[n]
    opt2 = AdamW(second, lr=0.01, weight_decay=0.1)
    opt2.load_state_arrays(state)
    assert opt2.t == 2
    rest = make_plan(second, opt=opt2)
    for x, t in data[2:]:
        rest.run(x, t)
    for (n, w), (_, g) in zip(whole.named_parameters(), second.named_parameters()):
        np.testing.assert_array_equal(g, w, err_msg=n)


def test_seed_keys_the_masks(rng):
    data = batches(rng, 2)
    results = []
    for seed in (SEED, SEED, SEED + 1):
        model = mlp(CudaBackend.simulated("cufft"), dropout=0.5)
        plan = StepPlan(model, SGD(model, lr=0.1), seed=seed, schedule="constant", base_lr=0.1, total=TOTAL)
        for x, t in data:
            plan.run(x, t)
        results.append(np.concatenate([p.ravel() for p in model.parameters()]))
    np.testing.assert_array_equal(results[0], results[1])
    assert not np.array_equal(results[0], results[2])


def test_snapshot_and_restore_undo_a_step(rng):
    model = mlp(CudaBackend.simulated("cufft"))
    plan = make_plan(model)
    x, t = batches(rng, 1)[0]
    saved = plan.snapshot()
    before = {k: v.copy() for k, v in plan.arrays().items()}
    plan.run(x, t)
    assert not np.array_equal(plan.flat.p, before["p"]) and plan.steps_taken() == 1
    plan.restore(saved)
    for k, v in plan.arrays().items():
        np.testing.assert_array_equal(v, before[k], err_msg=k)


def test_plan_fuses_each_relu_with_its_dropout():
    model = mlp(CudaBackend.simulated("cufft"), dropout=0.2)
    ops = plan_ops(model)
    kinds = [(type(op.layer).__name__, op.fused_relu, op.p, op.key) for op in ops]
    assert kinds == [("Circulant", False, 0.0, 0), ("ReLU", True, 0.2, 2), ("Circulant", False, 0.0, 0),
                     ("ReLU", True, 0.2, 5), ("Dense", False, 0.0, 0)]
    no_drop = plan_ops(mlp(CudaBackend.simulated("cufft"), dropout=0.0))
    assert [(op.fused_relu, op.p, op.key) for op in no_drop if op.fused_relu] == [(True, 0.0, 1), (True, 0.0, 3)]


def test_refusals_name_the_problem():
    bk = CudaBackend.simulated("cufft")
    lone = Sequential(Dense(3, 3, backend=bk), Dropout(0.5, backend=bk), Dense(3, 2, backend=bk))
    with pytest.raises(ValueError, match="does not follow a ReLU"):
        plan_ops(lone)
    cpu = mlp(NumpyBackend())
    with pytest.raises(ValueError, match="must be on the cuda backend"):
        make_plan(cpu)
    model = mlp(bk)
    with pytest.raises(ValueError, match="built for this model"):
        StepPlan(model, AdamW(mlp(bk)), seed=0, schedule="cosine", base_lr=0.1, total=3)
    with pytest.raises(ValueError, match="seed must be an integer"):
        StepPlan(model, AdamW(model), seed=-1, schedule="cosine", base_lr=0.1, total=3)
    model.eval()
    with pytest.raises(ValueError, match="evaluation mode"):
        make_plan(model)
    with pytest.raises(TypeError, match="must be a minicirc Sequential"):
        plan_ops(ReLU())
