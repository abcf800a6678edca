"""The one-launch optimizer updates and the device schedule under the simulator, against
minicirc.optim stepping the same model on the NumPy backend."""
import copy
import math

import numpy as np
import pytest

from minicirc import Circulant, Dense, ReLU, Sequential, SoftmaxCrossEntropy
from minicirc.backends import NumpyBackend
from minicirc.backends.cuda import fused
from minicirc.backends.cuda.flat import FlatParams
from minicirc.backends.cuda.scalars import StepScalars
from minicirc.optim import SGD, Adam, AdamW, constant_lr, cosine_lr

pytestmark = pytest.mark.cudasim


def small_model(dtype):
    bk = NumpyBackend()
    return Sequential(Circulant(7, 9, rng=1, dtype=dtype, backend=bk), ReLU(backend=bk),
                      Dense(9, 3, rng=2, dtype=dtype, backend=bk))


def grads_of(model, x, t):
    loss = SoftmaxCrossEntropy()
    loss.forward(model.forward(x), t)
    model.backward(loss.backward())


OPTIMIZERS = [
    ("adamw", lambda m: AdamW(m, lr=0.05, weight_decay=0.1)),
    ("adam-l2", lambda m: Adam(m, lr=0.02, betas=(0.8, 0.99), weight_decay=0.01)),
    ("adam", lambda m: Adam(m, lr=0.01)),
    ("sgd", lambda m: SGD(m, lr=0.1)),
    ("sgd-momentum-wd", lambda m: SGD(m, lr=0.1, momentum=0.9, weight_decay=0.01)),
    ("nesterov", lambda m: SGD(m, lr=0.05, momentum=0.8, nesterov=True)),
]


def fused_step(opt_ref, flat, state, lr, t):
    # SGD without momentum keeps no state; its kernel then never reads v (as plan.py passes g)
    if isinstance(opt_ref, Adam):
        fused.adam_update(flat.p, flat.g, state["m"], state["v"], lr, t, betas=(opt_ref.b1, opt_ref.b2),
                          eps=opt_ref.eps, weight_decay=opt_ref.weight_decay, decoupled=opt_ref.decoupled)
    else:
        fused.sgd_update(flat.p, flat.g, state.get("v", flat.g), lr, momentum=opt_ref.momentum, nesterov=opt_ref.nesterov,
                         weight_decay=opt_ref.weight_decay)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name, make", OPTIMIZERS)
def test_fused_update_steps_as_minicirc_optim(rng, dtype, name, make):
    ref = small_model(dtype)
    dev = copy.deepcopy(ref)
    opt = make(ref)
    flat = FlatParams(dev)
    state = flat.state_from(make(dev))
    lr, t = np.zeros(1, np.float64), np.zeros(1, np.int64)
    for k in range(4):
        x = rng.standard_normal((5, 7)).astype(dtype)
        labels = rng.integers(0, 3, 5)
        opt.lr *= 0.9 if k else 1.0                 # a learning rate that changes, as a schedule does
        lr[0] = opt.lr
        grads_of(ref, x, labels)
        grads_of(dev, x, labels)
        opt.step()
        flat.gather_grads(dev)
        fused_step(opt, flat, state, lr, t)
        t[0] += 1
        for (n, want), (_, got) in zip(ref.named_parameters(), dev.named_parameters()):
            # The simulator computes in NumPy's own precision: the same operations give the same bits.
            np.testing.assert_array_equal(got, want, err_msg=f"{name} step {k} {n}")
    # The flat state handed back is the optimizer's.
    back = make(dev)
    flat.state_to(back, state, int(t[0]))
    assert back.t == opt.t == 4
    for n, slots in opt.state.items():
        for slot, want in slots.items():
            np.testing.assert_array_equal(back.state[n][slot], want, err_msg=f"{n}/{slot}")


def test_update_reads_lr_and_step_from_the_device_scalars(rng):
    p0 = rng.standard_normal(10).astype(np.float32)
    g = rng.standard_normal(10).astype(np.float32)
    results = []
    for lr_value, t_value in [(0.1, 0), (0.2, 0), (0.1, 5)]:
        p, m, v = p0.copy(), np.zeros(10, np.float32), np.zeros(10, np.float32)
        fused.adam_update(p, g, m, v, np.array([lr_value]), np.array([t_value], np.int64), betas=(0.9, 0.999),
                          eps=1e-8, weight_decay=0.0, decoupled=True)
        results.append(p0 - p)
    np.testing.assert_allclose(results[1], 2 * results[0], rtol=1e-5)      # twice the lr, twice the step
    assert not np.allclose(results[2], results[0])                         # another bias correction


@pytest.mark.parametrize("schedule, rule", [("cosine", cosine_lr), ("constant", constant_lr)])
@pytest.mark.parametrize("warmup", [0, 3])
def test_device_schedule_is_minicirc_optim_schedules(schedule, rule, warmup):
    total = 11
    sc = StepScalars(np, schedule, 0.05, total, warmup)
    sc.set_step(0)
    for k in range(total + 2):
        assert int(sc.step[0]) == k
        assert math.isclose(float(sc.lr[0]), rule(0.05, k, total, warmup), rel_tol=1e-15, abs_tol=1e-18), k
        sc.tick()
    sc.set_step(5)
    assert int(sc.step[0]) == 5 and float(sc.lr[0]) == rule(0.05, 5, total, warmup)


@pytest.mark.parametrize("call, match", [
    (lambda: StepScalars(np, "linear", 0.1, 10), "schedule must be one of"),
    (lambda: StepScalars(np, "cosine", 0.0, 10), "base learning rate"),
    (lambda: StepScalars(np, "cosine", 0.1, 0), "total must be an integer >= 1"),
    (lambda: StepScalars(np, "cosine", 0.1, 10).set_step(-1), "step must be an integer >= 0"),
    (lambda: fused.adam_update(np.zeros(3, np.float32), np.zeros(3, np.float32), np.zeros(3, np.float32),
                               np.zeros(3, np.float32), np.zeros(1, np.float32), np.zeros(1, np.int64),
                               betas=(0.9, 0.99), eps=1e-8, weight_decay=0, decoupled=True), "lr must be a one-element float64"),
    (lambda: fused.sgd_update(np.zeros(3, np.float32), np.zeros(4, np.float32), np.zeros(3, np.float32),
                              np.zeros(1), momentum=0, nesterov=False, weight_decay=0), "g must have p's shape"),
    (lambda: fused.sgd_update(np.zeros(3, np.float32), np.zeros(3, np.float64), np.zeros(3, np.float32),
                              np.zeros(1), momentum=0, nesterov=False, weight_decay=0), "g must be float32"),
])
def test_bad_input_is_named(call, match):
    with pytest.raises(ValueError, match=match):
        call()
