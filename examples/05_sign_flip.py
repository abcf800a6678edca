"""What the sign flip D does, measured.

circ(r) commutes with shifts, so it acts on each Fourier frequency of its input separately:
frequency k is multiplied by R[k] = (F r)[k] and stays at frequency k. An input whose energy
sits in a few frequencies (a constant, a smooth signal, a flattened MNIST digit) reaches only
those few eigen-directions of circ(r). D = diag(s), random signs, spreads the input's
energy over all frequencies first. This script measures, with and without D:

1. what D does not change: the singular values (D is orthogonal);
2. a constant input: every output unit equal without D, and the output norm over random r;
3. smooth inputs: where the output energy lands;
4. 1000 MNIST test digits: spectrum of the input, correlation of neighbouring units, and the
   spectrum of dL/dr;
5. how D enters the gradient: the layer with D at x is the layer without D at s * x.

Derivation: docs/derivation.md, "The sign flip D". Run:

    python examples/05_sign_flip.py
"""
# %%
import numpy as np
import scipy.fft

from _check import Checks  # first: it puts this checkout's minicirc on the path

import minicirc as mc
from minicirc.mnist import load_mnist

checks = Checks("The sign flip D, measured: circ(r) alone against circ(r) D")


def circ(r):
    n = len(r)
    i, j = np.indices((n, n))
    return r[(i - j) % n]


def top_share(power, frac=0.05):
    """Share of the total energy held by the strongest `frac` of the frequency bins."""
    p = np.sort(power)[::-1]
    return p[: max(1, int(frac * len(p)))].sum() / p.sum()


rng = np.random.default_rng(1502)

# %% [markdown]
# ## 1. What D does not change
#
# 1. Singular values: D is orthogonal, so circ(r) D and circ(r) have the same ones, |F r|.

# %%
checks.section("1. what D does not change (n = 64)")
n = 64
r = rng.standard_normal(n) / np.sqrt(n) + 0.05
s = rng.choice([-1.0, 1.0], size=n)
sv = np.linalg.svd(circ(r), compute_uv=False)
sv_d = np.linalg.svd(circ(r) * s, compute_uv=False)          # circ(r) @ diag(s)
checks.exact("singular values: circ(r) D vs circ(r)", sv_d, sv)
checks.exact("singular values of circ(r) vs sorted abs(F r)", sv, np.sort(np.abs(np.fft.fft(r)))[::-1])
checks.exact("D D = I (D is its own inverse and transpose)", np.diag(s) @ np.diag(s), np.eye(n), 0.0)

# %% [markdown]
# ## 2. A constant input
#
# 2. A constant input. circ(r) 1 = (sum r) 1: every unit gets the same value, whatever r.

# %%
checks.section("2. a constant input x = 1 (n = 1024, r ~ N(0, 1/n))")
n = 1024
x = np.ones((1, n))
plain = mc.Circulant(n, sign_flip=False, bias=False, rng=1, dtype=np.float64)
flip = mc.Circulant(n, bias=False, rng=1, dtype=np.float64)    # same r, plus D
y0, y1 = plain.forward(x)[0], flip.forward(x)[0]
checks.exact("without D: y - mean(y), every unit equal", y0 - y0.mean(), np.zeros(n))
checks.exact("without D: the common value is sum(r)", y0.mean(), plain.params["r"].sum())
share = y1.var() / np.mean(y1 ** 2)       # the part of the energy that differs between units
checks.claim("with D: var(y) / mean(y^2)", f"{share:.3f}", "> 0.9 (without D: 0)", share > 0.9)
# Over 300 draws of r, the output norm: without D it rests on the single number sum(r)
# (|y|^2 / n = (sum r)^2, a chi-square with 1 degree of freedom: relative spread sqrt(2));
# with D it averages n roughly independent units and concentrates near 1.
norms = {False: [], True: []}
for seed in range(300):
    g = np.random.default_rng(seed)
    r = g.standard_normal(n) / np.sqrt(n)
    s = g.choice([-1.0, 1.0], size=n)
    for flipped in (False, True):
        u = x[0] * s if flipped else x[0]
        norms[flipped].append(np.sum(scipy.fft.irfft(scipy.fft.rfft(r) * scipy.fft.rfft(u), n) ** 2) / n)
spread = {k: np.std(v) / np.mean(v) for k, v in norms.items()}
checks.claim("without D: spread of norm(y)^2, 300 r", f"{spread[False]:.3f}", "> 1 (sqrt 2 = 1.414)",
             spread[False] > 1)
checks.claim("with D: spread of norm(y)^2, 300 r", f"{spread[True]:.3f}", "< 0.1", spread[True] < 0.1)

# %% [markdown]
# ## 3. Smooth inputs
#
# 3. Smooth inputs: cosines of frequencies 0..3. Without D the output stays in those 4 bins.

# %%
checks.section("3. smooth inputs: cosines of frequencies 0, 1, 2, 3 (n = 1024)")
k = np.arange(n)
X = np.stack([np.cos(2 * np.pi * f * k / n + phase) for f in range(4) for phase in (0.0, 1.0)])
for layer, name in ((plain, "without D"), (flip, "with D")):
    P = np.abs(scipy.fft.rfft(layer.forward(X))) ** 2
    share = P[:, :4].sum() / P.sum()
    if layer is plain:
        checks.exact(f"{name}: output energy in bins 0..3", share, 1.0)
    else:
        checks.claim(f"{name}: output energy in bins 0..3", f"{share:.4f}", f"< 0.05 (flat: {4 / P.shape[1]:.4f})",
                     share < 0.05)

# %% [markdown]
# ## 4. MNIST digits
#
# 4. MNIST: the padded digits concentrate their energy in a few frequencies (rows of 28 pixels).

# %%
checks.section("4. 1000 MNIST test digits through Circulant(784, 1024)")
Xm = load_mnist().test[0][:1000].astype(np.float64)
Xm -= Xm.mean(axis=0)                    # centred: look at what varies between digits
dy = np.random.default_rng(5).standard_normal((len(Xm), 1024))
stats = {}
for flipped in (False, True):
    layer = mc.Circulant(784, 1024, sign_flip=flipped, bias=False, rng=2, dtype=np.float64)
    U = scipy.fft.rfft(Xm * layer.signs[:784], 1024)
    Y = layer.forward(Xm)
    layer.backward(dy)
    Yc = (Y - Y.mean(axis=0)) / Y.std(axis=0)
    stats[flipped] = {
        "input": top_share((np.abs(U) ** 2).sum(axis=0)),
        "neighbour": np.mean(Yc[:, :-1] * Yc[:, 1:]),
        "dr": top_share(np.abs(scipy.fft.rfft(layer.grads["r"])) ** 2),
    }
a, b = stats[False], stats[True]
checks.claim("input energy in the top 5% of bins", f"{a['input']:.3f} -> {b['input']:.3f}",
             "drops below 0.15", a["input"] > 0.3 and b["input"] < 0.15)
checks.claim("corr(unit i, unit i+1) over digits", f"{a['neighbour']:.3f} -> {b['neighbour']:.3f}",
             "from > 0.5 to < 0.1", a["neighbour"] > 0.5 and abs(b["neighbour"]) < 0.1)
# With dy random, dR = sum_b conj(U_b) G_b fluctuates like noise from bin to bin: even a flat
# spectrum puts about 0.20 of its energy in its strongest 5% of bins (an exponential's tail).
checks.claim("dr energy in the top 5% of bins", f"{a['dr']:.3f} -> {b['dr']:.3f}",
             "to about 0.20 (flat)", a["dr"] > 0.4 and b["dr"] < 0.3)

# %% [markdown]
# ## 5. How D enters the gradient
#
# 5. How D enters: forward uses u = s * x, so the layer with D at x is the layer without D
# at s * x; dr is the same, and dx picks up the same s on the way back (D^T = D).

# %%
checks.section("5. how D enters the gradient (d = 9)")
x = rng.standard_normal((3, 9)) + 0.5
dy = rng.standard_normal((3, 9))
with_d = mc.Circulant(9, rng=4, dtype=np.float64)
with_d.params["b"][...] = rng.standard_normal(9)
without = mc.Circulant(9, sign_flip=False, rng=0, dtype=np.float64)
without.params["r"][...] = with_d.params["r"]
without.params["b"][...] = with_d.params["b"]
s = with_d.signs
checks.exact("y with D at x vs y without D at s * x", with_d.forward(x), without.forward(s * x))
dx_with, dx_without = with_d.backward(dy), without.backward(dy)
checks.exact("dr with D at x vs dr without D at s * x", with_d.grads["r"], without.grads["r"])
checks.exact("dx with D vs s * (dx without D)", dx_with, s * dx_without)
# D is fixed: its gradient exists (ds = sum_b x * du) but no optimizer sees it.
opt = mc.Adam(mc.Sequential(with_d), lr=0.1)
before = with_d.signs.copy()
opt.step()
checks.claim("signs after an Adam step", "unchanged" if np.array_equal(before, with_d.signs) else "changed",
             "unchanged (a buffer)", np.array_equal(before, with_d.signs) and "signs" not in with_d.params)

# %%
checks.done()
