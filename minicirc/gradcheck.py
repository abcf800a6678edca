"""Gradient checking against central differences, in float64.

``numerical_grad(f, a, dy)`` differentiates ``sum(f() * dy)`` with respect to the array ``a``
(perturbed in place, one element at a time, and restored). ``check_layer`` and
``check_model`` compare every analytic gradient of a float64 copy of a layer or model with
it and return a ``GradCheckResult``, the table of relative errors, which is true only when
every error is within ``tol``; they raise ``GradientCheckError`` with that table when one is
not (unless ``raise_on_fail=False``). See docs/gradcheck.md.
"""
from __future__ import annotations

from typing import Any, Callable, Dict, Iterator, List, Mapping

import numpy as np

from ._args import is_real
from .layers.base import Layer
from .layers.sequential import DxShapeError

__all__ = ["numerical_grad", "directional_grad", "rel_error", "check_layer", "check_model",
           "GradCheckResult", "GradientCheckError", "format_table"]


class GradientCheckError(AssertionError):
    """A gradient disagreed with central differences; ``.errors`` holds the table."""

    def __init__(self, message: str, errors: Dict[str, float]) -> None:
        super().__init__(message)
        self.errors = errors


class GradCheckResult(Mapping):
    """The outcome of ``check_layer`` / ``check_model``: a read-only table ``name -> relative
    error`` (``result["dW"]``, ``result.items()``) that is true only if the check passed.

    ``bool(result)`` is ``result.passed``, not whether the table is empty, so
    ``assert check_layer(layer, x, raise_on_fail=False)`` fails on a wrong gradient and
    prints the table. ``failed`` lists the names above ``tol``; the repr is the table.
    """

    def __init__(self, what: str, errors: Dict[str, float], tol: float) -> None:
        self.what, self.errors, self.tol = what, dict(errors), float(tol)

    @property
    def failed(self) -> List[str]:
        return [k for k, e in self.errors.items() if not e <= self.tol]      # NaN fails

    @property
    def passed(self) -> bool:
        return not self.failed

    def __bool__(self) -> bool:
        return self.passed

    def __getitem__(self, name: str) -> float:
        return self.errors[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self.errors)

    def __len__(self) -> int:
        return len(self.errors)

    def __repr__(self) -> str:
        verdict = "passed" if self.passed else f"FAILED ({', '.join(self.failed)} above {self.tol:g})"
        return f"gradient check of {self.what}: {verdict}\n{format_table(self.errors, self.tol)}"


def rel_error(a: Any, b: Any) -> float:
    """``max |a - b| / max(1e-8, max(|a| + |b|))``: the worst difference against the scale.

    The denominator is the largest ``|a| + |b|``, not each element's own: the cs231n
    elementwise form divides the finite-difference noise (~1e-10) of an entry that happens
    to be near zero by that near-zero value, and fails correct layers at random.
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"rel_error: shapes differ, {a.shape} vs {b.shape}")
    if a.size == 0:
        return 0.0
    return float(np.max(np.abs(a - b)) / max(1e-8, float(np.max(np.abs(a) + np.abs(b)))))


def _check_eps(who: str, eps: Any) -> float:
    if not (is_real(eps) and np.isfinite(eps) and eps > 0):
        raise ValueError(f"{who}: eps must be a finite step > 0, got {eps!r}")
    return float(eps)


def _check_array(who: str, a: Any, what: str = "the array") -> None:
    if not isinstance(a, np.ndarray):
        raise TypeError(f"{who}: {what} must be a NumPy array that f reads (it is perturbed in "
                        f"place), got {type(a).__name__}")
    if not a.flags.writeable:
        raise ValueError(f"{who}: {what} is read-only; it must be perturbed in place")


def _weighted_sum(who: str, out: Any, dy: Any) -> Any:
    """``sum(out * dy)``, refusing a ``dy`` that would only broadcast: that is the gradient
    of another sum, not a wrong answer NumPy would notice."""
    out = np.asarray(out)
    if out.dtype.kind not in "biufc":
        raise TypeError(f"{who}: f() must return numbers, got {type(out.item()).__name__ if out.ndim == 0 else out.dtype}")
    if np.ndim(dy) and np.shape(dy) != out.shape:
        raise ValueError(f"{who}: dy has shape {np.shape(dy)}, but f() returns shape {out.shape}; "
                         "dy must be a scalar or have f()'s shape")
    return np.sum(out * dy)


def numerical_grad(f: Callable[[], Any], a: np.ndarray, dy: Any, eps: float = 1e-6) -> np.ndarray:
    """Central differences of ``sum(f() * dy)`` with respect to every element of ``a``.

    ``f`` takes no argument: it reads ``a``, which is perturbed in place and restored (also
    when ``f`` raises, or on Ctrl-C). ``dy`` is a scalar or has ``f()``'s shape. The result
    is float64. Each difference is divided by the step actually taken: in a float32 array
    ``a + eps`` rounds to float32, and dividing by the nominal ``2 eps`` would be off by
    several percent. An element whose step rounds away entirely (``eps`` below the array's
    resolution there) gets NaN. Use float64 arrays to check gradients.
    """
    who = "numerical_grad"
    _check_array(who, a)
    eps = _check_eps(who, eps)
    if a.dtype.kind != "f":
        raise TypeError(f"numerical_grad: the array must be floating-point (float64 to check "
                        f"gradients), got dtype {a.dtype}")
    grad = np.zeros(a.shape, dtype=np.float64)
    flat, gflat = a.reshape(-1), grad.reshape(-1)
    if not np.shares_memory(flat, a):
        raise ValueError("numerical_grad: the array must be contiguous so it can be perturbed in place")
    for i in range(flat.size):
        old = flat[i]
        try:
            flat[i] = old + eps
            hi = np.float64(flat[i])                   # the perturbed value as stored, rounded
            plus = _weighted_sum(who, f(), dy)
            flat[i] = old - eps
            lo = np.float64(flat[i])
            minus = _weighted_sum(who, f(), dy)
        finally:
            flat[i] = old
        gflat[i] = (plus - minus) / (hi - lo) if hi != lo else np.nan
    return grad


def directional_grad(f: Callable[[], Any], a: np.ndarray, dy: Any, v: np.ndarray,
                     eps: float = 1e-6) -> float:
    """One central difference along direction ``v``: approximates ``<grad, v>``.

    ``a`` must be float64: in a lower precision each element's step ``eps * v`` rounds
    differently, and no single divisor is right.
    """
    who = "directional_grad"
    _check_array(who, a)
    eps = _check_eps(who, eps)
    if a.dtype != np.float64:
        raise TypeError(f"directional_grad: the array must be float64, got dtype {a.dtype}; "
                        "convert it with a.astype(np.float64)")
    if np.shape(v) != a.shape:
        raise ValueError(f"directional_grad: the direction v has shape {np.shape(v)}, "
                         f"expected {a.shape}, the shape of the array")
    old = a.copy()
    try:
        a += eps * v
        plus = _weighted_sum(who, f(), dy)
        a[...] = old - eps * v
        minus = _weighted_sum(who, f(), dy)
    finally:
        a[...] = old
    return float((plus - minus) / (2 * eps))


def format_table(errors: Dict[str, float], tol: float) -> str:
    width = max([len("name"), *map(len, errors)])
    lines = [f"{'name':<{width}}  rel_error  verdict (tol {tol:g})"]
    for k, e in errors.items():
        lines.append(f"{k:<{width}}  {e:9.2e}  {'ok' if e <= tol else 'FAIL'}")
    return "\n".join(lines)


def _generators(obj: Any) -> Iterator[np.random.Generator]:
    """Every numpy Generator held by a layer or model (dropout's), to replay its draws."""
    for layer in obj.modules():
        for v in vars(layer).values():
            if isinstance(v, np.random.Generator):
                yield v


def _run(what: str, obj: Any, x: np.ndarray, dy: np.ndarray, eps: float, directional: bool,
         seed: int, forward: Callable[[], Any], backward: Callable[[], Any],
         params: Dict[str, np.ndarray], grads: Callable[[], Dict[str, Any]],
         labels: Dict[str, str]) -> Dict[str, float]:
    """``params`` and ``grads()`` are keyed by gradient name; ``labels`` gives each one's
    parameter name for error messages."""
    gens = list(_generators(obj))
    states = [g.bit_generator.state for g in gens]

    def replay() -> Any:
        for g, s in zip(gens, states):
            g.bit_generator.state = s
        return forward()

    replay()
    try:
        analytic_dx = backward()
    except DxShapeError as e:    # a layer inside the model: reported as the gradient check's failure
        raise GradientCheckError(f"gradient check for {what} (on its float64 copy): {e}", {}) from None
    input_name = "dx"                     # the input's gradient, beside each parameter's
    raw = {input_name: analytic_dx, **grads()}
    targets = {input_name: x, **params}
    if analytic_dx is None and getattr(obj, "input_grad", True) is False:
        del targets[input_name]           # a first layer told not to compute it (Conv2D(input_grad=False))
    missing = [labels[k] for k in params if k not in raw]
    if missing:
        raise GradientCheckError(f"gradient check for {what}: backward() set no gradient for "
                                 f"parameter(s) {missing} in grads", {})
    # A gradient of the wrong shape would broadcast through the directional product and pass
    # (an optimizer then fails on it), or make the full comparison raise a bare ValueError.
    for name, a in targets.items():
        of = "the input x" if name == input_name else f"parameter {labels[name]!r}"
        if raw[name] is None:
            source = "backward() returned None" if name == input_name else f"grads[{labels[name]!r}] is None"
            raise GradientCheckError(f"gradient check for {what}: {source}; expected the gradient "
                                     f"{name}, an array of shape {a.shape} (the shape of {of})", {})
        got = np.shape(raw[name])
        if got != a.shape:
            raise GradientCheckError(f"gradient check for {what}: gradient {name} has shape {got}, "
                                     f"expected {a.shape}, the shape of {of}", {})
    analytic = {k: np.asarray(v, dtype=np.float64).copy() for k, v in raw.items() if k in targets}
    rng = np.random.default_rng(seed + 1)
    errors: Dict[str, float] = {}
    for name, a in targets.items():
        if directional:
            v = rng.standard_normal(a.shape)
            num = directional_grad(replay, a, dy, v, eps)
            ana = float(np.sum(np.asarray(analytic[name]) * v))
            errors[name] = rel_error(ana, num)
        else:
            errors[name] = rel_error(analytic[name], numerical_grad(replay, a, dy, eps))
    return errors


def check_layer(layer: Any, x: Any, *, eps: float = 1e-6, tol: float = 1e-6,
                directional: bool = False, seed: int = 0, raise_on_fail: bool = True) -> GradCheckResult:
    """Check ``dx`` and every parameter gradient of ``layer`` (any Layer, a Sequential too)
    at input ``x``.

    Works on a float64 copy (the layer itself is untouched), with a seeded random ``dy``
    and random values in every all-zero parameter (zero biases could hide a wrong ``db``). ``directional=True``
    checks one random direction per array instead of every element (for large layers).
    Returns a ``GradCheckResult``, the table ``{"dx": err, "dW": err, ...}`` (a parameter
    inside a Sequential is ``"d0.W"``), true only if every error is within ``tol``; raises
    ``GradientCheckError`` with the table if one is not, unless ``raise_on_fail=False``.
    """
    _check_options("check_layer", eps, tol)
    if not isinstance(layer, Layer):
        raise TypeError(f"check_layer: layer must be a minicirc Layer, got {type(layer).__name__}; "
                        "subclass minicirc.Layer (docs/gradcheck.md)")
    x = _float_input("check_layer", x)
    layer64 = layer.astype(np.float64)
    rng = np.random.default_rng(seed)
    params = dict(layer64.named_parameters())
    _randomise_zeros(params, rng)
    if "x" in params:
        raise ValueError(f"check_layer: {type(layer).__name__} has a parameter named 'x'; its gradient "
                         "'dx' would be confused with the input gradient. Rename the parameter.")
    # order="C": numerical_grad perturbs x through a flat view (a transposed x is Fortran-ordered).
    x64 = np.array(x, dtype=np.float64, order="C")
    y = layer64.forward(x64)
    dy = rng.standard_normal(y.shape)
    # The table names every gradient after the math: dx for the input, d<name> for a parameter.
    what = type(layer).__name__
    errors = _run(what, layer64, x64, dy, eps, directional, seed,
                  forward=lambda: layer64.forward(x64), backward=lambda: layer64.backward(dy),
                  params={f"d{k}": p for k, p in params.items()},
                  grads=lambda: {f"d{k}": g for k, g in _set_grads(layer64)},
                  labels={f"d{k}": k for k in params})
    return _verdict(what, errors, tol, raise_on_fail)


def _set_grads(layer: Layer) -> Iterator[Any]:
    """``(name, grads[k])`` for each gradient ``backward`` set, None included (named_grads
    gives None also for one it never set, and the two mistakes are reported apart)."""
    return layer._walk(lambda m: ((k, m.grads[k]) for k in m.params if k in m.grads))


def _check_options(who: str, eps: Any, tol: Any) -> None:
    _check_eps(who, eps)
    if not (is_real(tol) and tol >= 0):
        raise ValueError(f"{who}: tol must be a number >= 0, got {tol!r}")


def _float_input(who: str, x: Any) -> np.ndarray:
    """``x`` as given, refused unless real floating point: the check converts it to float64,
    which would silently drop an imaginary part or put integer inputs on a ReLU's kink."""
    a = np.asarray(x)
    if a.dtype.kind != "f":
        raise TypeError(f"{who}: x must be a real floating-point array (it is checked in float64), "
                        f"got dtype {a.dtype}")
    return a


def _randomise_zeros(params: Dict[str, np.ndarray], rng: np.random.Generator) -> None:
    """Give every all-zero parameter (biases at initialisation) random values: a gradient
    multiplied by a zero parameter, or a wrong gradient of one, can hide behind zeros."""
    for p in params.values():
        if not np.any(p):
            p[...] = rng.standard_normal(p.shape)


def check_model(model: Any, loss: Any, x: Any, t: Any, *, eps: float = 1e-6, tol: float = 1e-6,
                directional: bool = False, seed: int = 0, raise_on_fail: bool = True) -> GradCheckResult:
    """Check ``dx`` and every parameter gradient of ``model`` (a Sequential, or any Layer)
    through ``loss(model(x), t)``; the result is as ``check_layer``'s, with names such as
    ``"0.W"``."""
    _check_options("check_model", eps, tol)
    if not isinstance(model, Layer):
        raise TypeError(f"check_model: model must be a minicirc Layer (a Sequential of layers), got "
                        f"{type(model).__name__}")
    x = _float_input("check_model", x)
    model64 = model.astype(np.float64)
    rng = np.random.default_rng(seed)
    params = dict(model64.named_parameters())
    _randomise_zeros(params, rng)
    x64 = np.array(x, dtype=np.float64, order="C")        # C order: see check_layer

    def forward() -> float:
        return loss.forward(model64.forward(x64), t)

    errors = _run("model", model64, x64, np.float64(1.0), eps, directional, seed,
                  forward=forward, backward=lambda: model64.backward(loss.backward()),
                  params=params,
                  grads=lambda: dict(_set_grads(model64)),
                  labels={k: k for k in params})
    return _verdict("model", errors, tol, raise_on_fail)


def _verdict(what: str, errors: Dict[str, float], tol: float, raise_on_fail: bool) -> GradCheckResult:
    result = GradCheckResult(what, errors, tol)
    bad = result.failed
    if bad and raise_on_fail:
        hint = ""
        if any(np.isnan(e) for e in errors.values()):
            hint = ("\nnan: a difference was not a number -- eps below the parameters' resolution, "
                    "or a forward that returned NaN")
        raise GradientCheckError(f"gradient check failed for {what} ({', '.join(bad)} above {tol:g}):\n"
                                 + format_table(errors, tol) + hint, errors)
    return result
