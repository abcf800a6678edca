"""Float32 accuracy: the FFT path against float64, and finite differences against both.

Two measurements behind a rule of docs/gradcheck.md ("float32 paths are compared with the
float64 reference, never finite-differenced"):

1. The float32 layer against a float64 copy with the same parameters, for the circulant
   layer (n = 1024 and the odd n = 1023) and, for comparison, a dense layer: minicirc's
   rel_error of y, dx and each parameter gradient.
2. Central differences (float64 and float32) and forward differences (float64) of
   L = sum(tanh(circ(r) D x) * dy) against the float64 analytic gradient, for steps from
   1e-1 to 1e-8: truncation error falls as eps^2 (central) or eps (forward), rounding error
   grows as 1/eps, and float32's rounding is 1e9 times float64's.

Derivation: docs/derivation.md, "Float32 accuracy"; docs/gradcheck.md. Run:

    python examples/07_float32_accuracy.py
"""
# %%
import numpy as np

from _check import Checks  # first: it puts this checkout's minicirc on the path

import minicirc as mc
from minicirc.gradcheck import numerical_grad, rel_error

rng = np.random.default_rng(32)


def forward_diff(f, a, dy, eps):
    """Forward differences (f(a + eps) - f(a)) / eps of sum(f() * dy), for comparison."""
    grad = np.zeros(a.shape)
    base = np.sum(np.asarray(f()) * dy)
    flat, gflat = a.reshape(-1), grad.reshape(-1)
    for i in range(flat.size):
        old = flat[i]
        flat[i] = old + eps
        gflat[i] = (np.sum(np.asarray(f()) * dy) - base) / eps
        flat[i] = old
    return grad


# %% [markdown]
# ## 1. float32 against float64, same parameters

# %%
# -- 1. float32 against float64, same parameters -------------------------------------------
B = 64
accuracy = {}
for name, layer32 in (("Circulant n=1024", mc.Circulant(1024, rng=1)),
                      ("Circulant n=1023", mc.Circulant(1023, rng=2)),
                      ("Dense 1024x1024", mc.Dense(1024, 1024, rng=3))):
    d_in = layer32.d_in
    layer32.params["b"][...] = rng.standard_normal(layer32.d_out)
    layer64 = layer32.astype(np.float64)
    x = rng.standard_normal((B, d_in))
    dy = rng.standard_normal((B, layer32.d_out))
    y32, y64 = layer32.forward(x.astype(np.float32)), layer64.forward(x)
    dx32, dx64 = layer32.backward(dy.astype(np.float32)), layer64.backward(dy)
    assert y32.dtype == dx32.dtype == np.float32          # float32 end to end
    accuracy[name] = {"y": rel_error(y32, y64), "dx": rel_error(dx32, dx64),
                      **{"d" + k: rel_error(layer32.grads[k], layer64.grads[k]) for k in layer32.grads}}

# %% [markdown]
# ## 2. Finite differences against the float64 analytic gradient

# %%
# -- 2. finite differences against the float64 analytic gradient ---------------------------
n = 32
model32 = mc.Sequential(mc.Circulant(n, rng=4), mc.Tanh())    # tanh: a non-zero 3rd derivative
model64 = model32.astype(np.float64)
x = rng.standard_normal((3, n)) * 1.5
dy = rng.standard_normal((3, n))
model64.forward(x)
exact = model64.backward(dy)
steps = [1e-1, 1e-2, 1e-3, 1e-4, 1e-5, 1e-6, 1e-7, 1e-8]
sweep = {}
for eps in steps:
    x64, x32 = x.copy(), x.astype(np.float32)
    sweep[eps] = (
        rel_error(numerical_grad(lambda: model64.forward(x64), x64, dy, eps), exact),
        rel_error(forward_diff(lambda: model64.forward(x64), x64, dy, eps), exact),
        rel_error(numerical_grad(lambda: model32.forward(x32), x32, dy, eps), exact),
    )

# %%
print("rel_error of finite differences of dx against the float64 analytic gradient")
print(f"(Circulant({n}) then Tanh, batch 3):")
print()
print("   eps    central f64   forward f64   central f32")
for eps, (c64, f64, c32) in sweep.items():
    print(f"  {eps:6.0e}   {c64:9.1e}     {f64:9.1e}     {c32:9.1e}")
print()

# %%
checks = Checks(f"Float32 accuracy (batch {B}): float32 layer vs float64 copy, then finite differences")
for name, errs in accuracy.items():
    for g, err in errs.items():
        checks.bound(f"{name}: {g} float32 vs float64 (rel)", err, 1e-5)
c64 = {eps: v[0] for eps, v in sweep.items()}
f64 = {eps: v[1] for eps, v in sweep.items()}
c32 = {eps: v[2] for eps, v in sweep.items()}
checks.bound("central f64, eps 1e-6 (the default) (rel)", c64[1e-6], 1e-6)
ratio_c, ratio_f = c64[1e-1] / c64[1e-2], f64[1e-1] / f64[1e-2]
checks.claim("central: error(1e-1) / error(1e-2)", f"{ratio_c:.0f}", "about 100: O(eps^2)", 30 < ratio_c < 300)
checks.claim("forward: error(1e-1) / error(1e-2)", f"{ratio_f:.1f}", "about 10: O(eps)", 3 < ratio_f < 30)
checks.claim("central f64: error(1e-8) / error(1e-6)", f"{c64[1e-8] / c64[1e-6]:.0f}", "about 100: rounding 1/eps",
             c64[1e-8] / c64[1e-6] > 10)
best32 = min(c32.values())
worst_fft = max(max(accuracy[k].values()) for k in accuracy if k.startswith("Circulant"))
checks.claim("best central f32 over the sweep", f"{best32:.1e}", f"> 10 x FFT f32 ({worst_fft:.1e})",
             best32 > 10 * worst_fft)
checks.claim("central f32 at eps 1e-6", f"{c32[1e-6]:.1e}", "> 1e-2: useless", c32[1e-6] > 1e-2)
checks.done()
