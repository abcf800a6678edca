"""Every public constructor checks every argument: hypothesis draws bad values (NaN, +-Inf,
None, strings, bools, negatives, zero, out of range, other types) for one argument at a time,
the others good, and expects a ValueError or TypeError whose message names the argument;
and draws all-good arguments and expects them accepted.

The rules themselves live in minicirc/_args.py; this file only says which rule each
argument follows (SPECS) and what values break each rule (BAD).
"""
import math
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import minicirc as mc
from minicirc.batches import Batches
from minicirc.optim import constant_lr, cosine_lr

# -- values, by rule -----------------------------------------------------------------------
NOT_A_NUMBER = st.one_of(st.none(), st.text(max_size=4), st.booleans(), st.just(np.bool_(True)),
                         st.just(1 + 2j), st.just([0.5]), st.just(object()))
NON_FINITE = st.sampled_from([math.nan, math.inf, -math.inf, np.float32("nan"), np.float64("inf"),
                              10 ** 400])
ANY_FLOAT = st.floats(allow_nan=True, allow_infinity=True)


def reals(lo, hi, **kw):
    """Finite numbers in [lo, hi] as Python floats, NumPy floats, ints and Fractions."""
    f = st.floats(lo, hi, allow_nan=False, allow_infinity=False, **kw)
    ints = st.nothing() if math.ceil(lo) > math.floor(hi) else st.integers(math.ceil(lo), math.floor(hi)).filter(
        lambda i: (lo < i or not kw.get("exclude_min")) and (i < hi or not kw.get("exclude_max")))
    return st.one_of(f, f.map(np.float64), f.map(np.float32).filter(lambda v: lo <= v <= hi and
                     (v < hi or not kw.get("exclude_max")) and (v > lo or not kw.get("exclude_min"))),
                     ints, f.map(Fraction))


GOOD = {
    "pos_int": st.one_of(st.integers(1, 12), st.integers(1, 12).map(np.int64)),
    "nonneg_int": st.one_of(st.integers(0, 50), st.integers(0, 50).map(np.int32)),
    "positive": reals(1e-3, 10.0, exclude_min=True),
    "nonneg": reals(0.0, 10.0),
    "unit": reals(0.0, 1.0, exclude_max=True),
    "unit_pos": reals(0.01, 0.99),                 # SGD momentum: nesterov=True needs it > 0
    "pair_unit": st.tuples(reals(0.0, 1.0, exclude_max=True), reals(0.0, 1.0, exclude_max=True)),
    "flag": st.one_of(st.booleans(), st.just(np.bool_(False))),
    "dtype": st.sampled_from([np.float32, np.float64, "float32", "float64", np.dtype("float64")]),
    "dtype_or_none": st.sampled_from([None, np.float32, "float64"]),
    "rng": st.one_of(st.none(), st.integers(0, 2 ** 40), st.just(np.random.default_rng(0)),
                     st.just(np.random.SeedSequence(3))),
    "backend": st.sampled_from([None, "numpy"]),
    "model": st.just("model"),                     # built fresh for each case (see build)
    "layer": st.sampled_from(["dense", "relu", "nested"]),
    "array": st.just("array"),
}

BAD = {
    "pos_int": st.one_of(st.integers(max_value=0), st.floats(allow_nan=True), st.just(2.0),
                         NOT_A_NUMBER, NON_FINITE),
    "nonneg_int": st.one_of(st.integers(max_value=-1), st.floats(allow_nan=True), st.just(1.0),
                            NOT_A_NUMBER, NON_FINITE),
    "positive": st.one_of(st.floats(max_value=0.0), NOT_A_NUMBER, NON_FINITE,
                          st.integers(max_value=0)),
    "nonneg": st.one_of(st.floats(max_value=-1e-300), NOT_A_NUMBER, NON_FINITE,
                        st.integers(max_value=-1)),
    "unit": st.one_of(st.floats(max_value=-1e-300), st.floats(min_value=1.0), NOT_A_NUMBER,
                      NON_FINITE, st.integers(min_value=1), st.integers(max_value=-1)),
    "pair_unit": st.one_of(st.tuples(ANY_FLOAT.filter(lambda v: not 0 <= v < 1), st.just(0.9)),
                           st.tuples(st.just(0.9), st.one_of(NOT_A_NUMBER, NON_FINITE, st.just(1.0))),
                           st.lists(st.just(0.9), max_size=4).filter(lambda v: len(v) != 2),
                           st.text(min_size=2, max_size=2), st.none(), st.floats()),
    "flag": st.one_of(st.integers(), st.text(max_size=3), st.none(), st.floats(), st.just([True])),
    "dtype": st.sampled_from([None, np.float16, np.int32, "int8", "complex64", np.complex128,
                              "abc", 3, 2.5, object()]),
    "dtype_or_none": st.sampled_from([np.float16, np.int32, "int8", "complex64", "abc", 3]),
    "rng": st.one_of(st.booleans(), st.integers(max_value=-1), st.floats(), st.text(min_size=1, max_size=3),
                     st.just(1 + 1j), st.just(object())),
    "backend": st.one_of(st.sampled_from(["tpu", "NUMPY", "", "cuda "]), st.integers(), st.floats(),
                         st.just(object())),
    "model": st.one_of(st.none(), st.integers(), st.text(max_size=3), st.just([mc.Dense(2, 2)])),
    "layer": st.one_of(st.none(), st.integers(), st.text(max_size=3), st.just(np.tanh), st.just([mc.ReLU()])),
    "array": st.one_of(st.none(), st.integers(), st.just([[1.0, 2.0]]), st.just(np.float64(1.0))),
}
BAD["unit_pos"] = BAD["unit"]
GOOD["pos_int_or_none"] = st.one_of(st.none(), GOOD["pos_int"])      # Circulant's d_out: d_in
BAD["pos_int_or_none"] = BAD["pos_int"].filter(lambda v: v is not None)

# -- constructors: argument -> rule, and how each is called ---------------------------------
# (call, {argument: rule}, positional arguments in order); every argument is passed by name
# unless it is positional-only in practice (Sequential's *layers, the schedules' step).
SPECS = {
    "Dense": (mc.Dense, {"d_in": "pos_int", "d_out": "pos_int", "bias": "flag", "rng": "rng",
                         "dtype": "dtype", "backend": "backend", "gain": "positive"}),
    "Circulant": (mc.Circulant, {"d_in": "pos_int", "d_out": "pos_int_or_none", "bias": "flag",
                                 "sign_flip": "flag", "rng": "rng", "dtype": "dtype",
                                 "backend": "backend", "gain": "positive"}),
    "BlockCirculant": (mc.BlockCirculant, {"d_in": "pos_int", "d_out": "pos_int", "block": "pos_int",
                                           "bias": "flag", "sign_flip": "flag", "rng": "rng",
                                           "dtype": "dtype", "backend": "backend", "gain": "positive"}),
    "ReLU": (mc.ReLU, {"dtype": "dtype_or_none", "backend": "backend"}),
    "Tanh": (mc.Tanh, {"dtype": "dtype_or_none", "backend": "backend"}),
    "Sigmoid": (mc.Sigmoid, {"dtype": "dtype_or_none", "backend": "backend"}),
    "Dropout": (mc.Dropout, {"p": "unit", "rng": "rng", "dtype": "dtype_or_none", "backend": "backend"}),
    "Layer": (mc.Layer, {"dtype": "dtype", "backend": "backend"}),
    "Sequential": (None, {"item": "layer"}),
    "SoftmaxCrossEntropy": (mc.SoftmaxCrossEntropy, {"check_labels": "flag"}),
    "SGD": (mc.SGD, {"model": "model", "lr": "positive", "momentum": "unit_pos", "nesterov": "flag",
                     "weight_decay": "nonneg"}),
    "Adam": (mc.Adam, {"model": "model", "lr": "positive", "betas": "pair_unit", "eps": "positive",
                       "weight_decay": "nonneg"}),
    "AdamW": (mc.AdamW, {"model": "model", "lr": "positive", "betas": "pair_unit", "eps": "positive",
                         "weight_decay": "nonneg"}),
    "cosine_lr": (cosine_lr, {"base": "positive", "step": "nonneg_int", "total": "pos_int",
                              "warmup": "nonneg_int"}),
    "constant_lr": (constant_lr, {"base": "positive", "step": "nonneg_int", "total": "pos_int",
                                  "warmup": "nonneg_int"}),
    "Batches": (None, {"X": "array", "y": "array", "batch_size": "pos_int", "shuffle": "flag",
                       "seed": "rng"}),
}


def build(owner, kwargs):
    """Call constructor ``owner`` with ``kwargs``, turning the placeholders into objects."""
    call, _ = SPECS[owner]
    kw = dict(kwargs)
    if kw.get("model") == "model":
        kw["model"] = mc.Sequential(mc.Dense(3, 2, rng=0))
    if owner == "Sequential":
        item = kw["item"]
        item = {"dense": mc.Dense(2, 2, rng=0), "relu": mc.ReLU(),
                "nested": mc.Sequential(mc.Tanh())}.get(item, item) if isinstance(item, str) else item
        return mc.Sequential(mc.ReLU(), item)
    if owner == "Batches":
        n = 7
        X = np.zeros((n, 2)) if kw["X"] == "array" else kw["X"]
        y = np.zeros(n, int) if isinstance(kw["y"], str) and kw["y"] == "array" else kw["y"]
        return Batches(X, y, kw["batch_size"], shuffle=kw["shuffle"], seed=kw["seed"])
    return call(**kw)


CASES = [(owner, arg) for owner, (_, rules) in SPECS.items() for arg in rules]


def good_kwargs(owner):
    return st.fixed_dictionaries({a: GOOD[rule] for a, rule in SPECS[owner][1].items()})


@pytest.mark.parametrize("owner, arg", CASES, ids=[f"{o}-{a}" for o, a in CASES])
@settings(max_examples=40, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(data=st.data())
def test_a_bad_argument_is_refused_by_name(owner, arg, data):
    kwargs = data.draw(good_kwargs(owner), label="good arguments")
    kwargs[arg] = data.draw(BAD[SPECS[owner][1][arg]], label=arg)
    with pytest.raises((ValueError, TypeError)) as info:
        build(owner, kwargs)
    message = str(info.value)
    assert arg in message, f"{owner}({arg}={kwargs[arg]!r}): the error does not name {arg}: {message}"
    assert owner in message or owner == "Batches" and message.startswith("Batches"), message


@pytest.mark.parametrize("owner", list(SPECS))
@settings(max_examples=40, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(data=st.data())
def test_good_arguments_are_accepted(owner, data):
    build(owner, data.draw(good_kwargs(owner), label="arguments"))


def test_the_issue_example_sgd_weight_decay_nan_is_refused():
    """SGD(weight_decay=nan) was accepted and turned every weight into NaN at the first step."""
    model = mc.Sequential(mc.Dense(2, 2, rng=0))
    with pytest.raises(ValueError, match=r"^SGD: weight_decay must be a finite number >= 0, got nan$"):
        mc.SGD(model, weight_decay=float("nan"))
    with pytest.raises(ValueError, match=r"^AdamW: betas\[1\] must be a number in \[0, 1\), got inf$"):
        mc.AdamW(model, betas=(0.9, float("inf")))
    with pytest.raises(TypeError, match=r"^Dense: dtype must be float32 or float64, got None$"):
        mc.Dense(2, 2, dtype=None)          # NumPy reads None as float64: not the default
    with pytest.raises(ValueError, match=r"^Dense: rng must be None, a seed .* got True$"):
        mc.Dense(2, 2, rng=True)            # a bool is an int to NumPy: seed 1
    assert mc.SGD(model, momentum=0.0).momentum == 0.0
