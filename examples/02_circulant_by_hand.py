"""The circulant layer by hand: circ(r), D, the FFT path and its three gradients, checked.

For small sizes (odd and even n, a padded and a cropped layer) this builds circ(r) and
D = diag(s) as explicit matrices and compares, row by row:

- the diagonalisation F circ(r) F^-1 = diag(F r), with F the DFT matrix;
- the forward pass by matrix product against the FFT path (eq. (C1)) and minicirc's layer;
- dL/dr by an index sum and by the explicit matrix against irfft(sum_b conj(U) G) (eq. (C2)),
  with B inverse FFTs and with one;
- dL/dx by the explicit matrix against crop(s * irfft(conj(R) G)) (eqs. (C3), (C4));
- dL/db; and every gradient against central differences.

The loss is L = sum(y * dy) for a fixed random dy, so dL/dy = dy. Derivation:
docs/derivation.md. Run:

    python examples/02_circulant_by_hand.py
"""
# %%
import numpy as np
import scipy.fft
import scipy.linalg

from _check import Checks  # first: it puts this checkout's minicirc on the path

import minicirc as mc
from minicirc.gradcheck import numerical_grad


# %%
# (d_in, d_out): odd n, even n, zero-padded input (n = 9, odd), cropped output (n = 10)
CASES = [(5, 5), (8, 8), (6, 9), (10, 4)]
B = 3



# %% [markdown]
# ## The two matrices, from their index formulas
#
# $\mathrm{circ}(r)_{ij} = r_{(i - j) \bmod n}$ and $F_{kj} = \omega^{jk}$ with $\omega = e^{-2\pi i/n}$
# (docs/derivation.md, "The circulant matrix", "Diagonalisation by the DFT").

# %%
def circ(r):
    """circ(r)[i, j] = r[(i - j) mod n]: r is the first column, each column shifts it down."""
    n = len(r)
    i, j = np.indices((n, n))
    return r[(i - j) % n]


def dft_matrix(n):
    """F[k, j] = exp(-2 pi i j k / n), so that F @ a == np.fft.fft(a); F^-1 = conj(F) / n."""
    k, j = np.indices((n, n))
    return np.exp(-2j * np.pi * j * k / n)



# %% [markdown]
# ## Every case: the matrices, the diagonalisation, the FFT path and its gradients
#
# For each shape the loop builds $C = \mathrm{circ}(r)$, $D = \mathrm{diag}(s)$, the padding
# and the crop as explicit matrices, checks $F C F^{-1} = \mathrm{diag}(F r)$, computes
# eqs. (C1)-(C4) with `scipy.fft`, and compares them with the explicit matrices, the index sums,
# minicirc's `Circulant` and central differences. The loss is $L = \sum y \odot dy$ for a
# fixed random $dy$.

# %%
checks = Checks(f"The circulant layer by hand: batch {B}, float64")

for d_in, d_out in CASES:
    n = max(d_in, d_out)
    kind = "square" if d_in == d_out else ("input zero-padded" if d_in < n else "output cropped")
    checks.section(f"n = {n} ({'odd' if n % 2 else 'even'}), d_in = {d_in}, d_out = {d_out}: {kind}")
    rng = np.random.default_rng(1000 * d_in + d_out)
    # Non-standard values: r and x off-centre, biases far from 0, random signs.
    r = rng.standard_normal(n) + 0.3
    s = rng.choice([-1.0, 1.0], size=n)
    x = rng.standard_normal((B, d_in)) + 0.4
    b = rng.standard_normal(d_out) - 1.5
    dy = rng.standard_normal((B, d_out))

    # -- the matrices --------------------------------------------------------------
    C = circ(r)
    D = np.diag(s)
    pad = np.eye(n)[:, :d_in]            # (n, d_in): pad_n(v) = pad @ v
    crop = np.eye(n)[:d_out, :]          # (d_out, n): crop(w) = crop @ w
    M = crop @ C @ D @ pad               # (d_out, d_in): the matrix the layer applies
    checks.exact("circ(r) vs scipy.linalg.circulant", C, scipy.linalg.circulant(r), 0.0)

    # -- the diagonalisation: F circ(r) F^-1 = diag(F r) -----------------------------
    F = dft_matrix(n)
    Finv = np.conj(F) / n
    Lam = F @ C @ Finv
    checks.exact("F Finv = I", F @ Finv, np.eye(n))
    checks.exact("off-diagonal of F C F^-1", Lam - np.diag(np.diag(Lam)), np.zeros((n, n)))
    checks.exact("diagonal of F C F^-1 vs F r", np.diag(Lam), F @ r)
    checks.exact("C^T = circ(r[-k mod n])", C.T, circ(r[(-np.arange(n)) % n]))
    checks.exact("C^T = F^-1 diag(conj(F r)) F", Finv @ np.diag(np.conj(F @ r)) @ F, C.T)

    # -- forward: matrix product against the FFT path against the layer --------------
    # [docs:circulant-fft]
    u = s * np.pad(x, ((0, 0), (0, n - d_in)))             # u = s * pad_n(x),     (B, n)
    U = scipy.fft.rfft(u, axis=-1)                          # (B, n//2 + 1)
    R = scipy.fft.rfft(r)                                   # (n//2 + 1,)
    y = scipy.fft.irfft(R * U, n)[:, :d_out] + b            # eq. (C1),            (B, d_out)
    G = scipy.fft.rfft(dy, n)                               # rfft(pad_n(dy)),     (B, n//2 + 1)
    dr = scipy.fft.irfft((np.conj(U) * G).sum(axis=0), n)  # eq. (C2),            (n,)
    du = scipy.fft.irfft(np.conj(R) * G, n)                 # eq. (C3),            (B, n)
    dx = (s * du)[:, :d_in]                                 # eq. (C4),            (B, d_in)
    db = dy.sum(axis=0)                                     #                      (d_out,)
    # [/docs:circulant-fft]
    checks.exact("y: FFT path vs x M^T + b", y, x @ M.T + b)

    layer = mc.Circulant(d_in, d_out, rng=0, dtype=np.float64)
    layer.params["r"][...] = r
    layer.params["b"][...] = b
    layer.buffers["signs"][...] = s
    checks.exact("y: Circulant.forward vs FFT path", layer.forward(x), y)
    layer_dx = layer.backward(dy)

    # -- dL/dr ---------------------------------------------------------------------
    g = np.pad(dy, ((0, 0), (0, n - d_out)))                # pad_n(dy): cropped outputs get 0
    # [docs:circulant-brute]
    # y[b, i] = sum_j r[(i - j) mod n] u[b, j], so r[k] meets u[b, j] wherever (i - j) mod n = k:
    dr_sum = np.zeros(n)
    for k in range(n):
        for bb in range(B):
            for i in range(n):
                dr_sum[k] += g[bb, i] * u[bb, (i - k) % n]  # a circular cross-correlation
    # The same from the matrix: dL/dC[i, j] = sum_b g[b, i] u[b, j], and r[k] sits at every
    # (i, j) with (i - j) mod n = k, so dL/dr[k] adds up the k-th wrapped diagonal of dL/dC.
    dC = g.T @ u
    i, j = np.indices((n, n))
    dr_mat = np.array([dC[(i - j) % n == k].sum() for k in range(n)])
    # dL/du = g C (row vectors: y = u C^T), then D and the crop: dL/dx = crop(g C D).
    dx_mat = (g @ C @ D)[:, :d_in]
    # [/docs:circulant-brute]
    dr_each = sum(scipy.fft.irfft(np.conj(U[bb]) * G[bb], n) for bb in range(B))
    checks.exact("dr: index sum vs wrapped diagonals", dr_sum, dr_mat)
    checks.exact("dr: FFT (C2) vs index sum", dr, dr_sum)
    checks.exact(f"dr: 1 inverse FFT vs {B} inverse FFTs", dr, dr_each)
    checks.exact("dr: Circulant.grads['r'] vs (C2)", layer.grads["r"], dr)

    # -- dL/dx ---------------------------------------------------------------------
    checks.exact("dx: FFT (C3, C4) vs crop(g C D)", dx, dx_mat)
    checks.exact("dx: vs dy M (the whole matrix)", dx, dy @ M)
    checks.exact("dx: Circulant.backward vs (C4)", layer_dx, dx)
    checks.exact("db: Circulant.grads['b'] vs sum dy", layer.grads["b"], db)

    # -- central differences of L = sum(layer(x) * dy) ------------------------------
    def f():
        return layer.forward(x)

    checks.close("dr vs central differences (rel)", dr, numerical_grad(f, layer.params["r"], dy))
    checks.close("dx vs central differences (rel)", dx, numerical_grad(f, x, dy))
    checks.close("db vs central differences (rel)", db, numerical_grad(f, layer.params["b"], dy))

    # -- the adjoint pair, and why irfft needs n --------------------------------------
    if d_out < n:
        v, w = rng.standard_normal(n), rng.standard_normal(d_out)
        checks.exact("<crop v, w> = <v, pad w>", np.dot(crop @ v, w), np.dot(v, crop.T @ w))
    short = scipy.fft.irfft(R).shape[0]
    checks.claim("len(irfft(rfft(r))) without n=", f"{short}",
                 f"n - (n odd) = {n - n % 2}", short == n - n % 2)


# %%
checks.done()
