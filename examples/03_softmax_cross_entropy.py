"""Softmax with cross-entropy by hand: the stable log-sum-exp and the fused gradient.

For logits z (B, K) and labels t (B,), with p = softmax(z) row by row::

    log p[b, k] = z[b, k] - m_b - log(sum_j exp(z[b, j] - m_b)),   m_b = max_j z[b, j]
    L  = -(1/B) sum_b log p[b, t_b]
    dz = (p - onehot(t)) / B

checked against the naive formulas, the chain rule through the softmax Jacobian, central
differences, minicirc's SoftmaxCrossEntropy, and logits of 1e4 (where the naive formula gives
inf and NaN). Derivation: docs/derivation.md, "Softmax with cross-entropy". Run:

    python examples/03_softmax_cross_entropy.py
"""
# %%
import numpy as np

from _check import Checks  # first: it puts this checkout's minicirc on the path

import minicirc as mc
from minicirc.gradcheck import numerical_grad


# %%
B, K = 4, 5
rng = np.random.default_rng(7)
z = rng.standard_normal((B, K)) * 2.0 + 0.7      # non-standard logits
t = np.array([3, 0, 4, 1])                       # labels, one per row

checks = Checks(f"Softmax cross-entropy by hand: B={B}, K={K} classes, float64")


# %% [markdown]
# ## The stable forward and the fused gradient
#
# $\log p_{bk} = z_{bk} - m_b - \log \sum_j e^{z_{bj} - m_b}$ with $m_b = \max_j z_{bj}$, and
# $dz = (p - \mathrm{onehot}(t)) / B$ (docs/derivation.md, "Softmax with cross-entropy").

# %%
# [docs:softmax-ce]
def log_softmax(z):
    """Stable: subtract each row's max, so exp never overflows and log never sees 0."""
    shifted = z - z.max(axis=1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


def cross_entropy(z, t):
    """L = -(1/B) sum_b log p[b, t_b]."""
    return -log_softmax(z)[np.arange(len(t)), t].mean()


def cross_entropy_grad(z, t):
    """dL/dz = (p - onehot(t)) / B: the softmax and the log fused, no 1/p anywhere."""
    p = np.exp(log_softmax(z))
    p[np.arange(len(t)), t] -= 1
    return p / len(t)
# [/docs:softmax-ce]



# %%
L = cross_entropy(z, t)
dz = cross_entropy_grad(z, t)

# %% [markdown]
# ## Against the naive formulas and the unfused chain rule
# The naive forms, fine at moderate logits:

# %%
p_naive = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
L_naive = -np.log(p_naive[np.arange(B), t]).mean()
checks.exact("log_softmax vs log(exp(z) / sum exp(z))", log_softmax(z), np.log(p_naive))
checks.exact("L vs naive -mean log p[t]", L, L_naive)

# The chain rule, unfused: dL/dp[b, k] = -[k = t_b] / (B p[b, k]), then through the softmax
# Jacobian dp[b, i]/dz[b, j] = p_i ([i = j] - p_j), for each row.
onehot = np.eye(K)[t]
dL_dp = -onehot / (B * p_naive)
dz_chain = np.stack([(np.diag(p) - np.outer(p, p)).T @ g for p, g in zip(p_naive, dL_dp)])
checks.exact("dz = (p - onehot)/B vs chain rule via 1/p", dz, dz_chain)
checks.exact("rows of dz sum to 0", dz.sum(axis=1), np.zeros(B))


# %% [markdown]
# ## Central differences, and minicirc's loss

# %%
def loss():
    return cross_entropy(z, t)


checks.close("dz vs central differences (rel)", dz, numerical_grad(loss, z, 1.0))

ce = mc.SoftmaxCrossEntropy()
checks.exact("SoftmaxCrossEntropy.forward vs L", ce.forward(z, t), L)
checks.exact("SoftmaxCrossEntropy.backward vs dz", ce.backward(), dz)

# %% [markdown]
# ## Logits of 1e4

# %%
# Logits of 1e4. Shifting every logit of a row by the same constant changes nothing
# (softmax(z + c) = softmax(z)), so the stable formulas must give the numbers above.
big = z + 1e4
with np.errstate(over="ignore", invalid="ignore"):
    naive_big = -np.log((np.exp(big) / np.exp(big).sum(axis=1, keepdims=True))[np.arange(B), t]).mean()
checks.claim("naive L at logits z + 1e4", f"{naive_big}", "inf or nan", not np.isfinite(naive_big))
# 1e4 carries 12 fewer digits after the point than z does: agreement to ~1e-12, not 1e-16
checks.exact("stable L at z + 1e4 vs L at z", cross_entropy(big, t), L, 1e-10)
checks.exact("dz at z + 1e4 vs dz at z", cross_entropy_grad(big, t), dz, 1e-10)
checks.exact("SoftmaxCrossEntropy at z + 1e4 vs L", ce.forward(big, t), L, 1e-10)
checks.exact("SoftmaxCrossEntropy.backward at z + 1e4", ce.backward(), dz, 1e-10)

# %% [markdown]
# ## Logits 1e4 apart
# Logits 1e4 apart: p is one-hot at the argmax, L is the gap to the winning logit.

# %%
far = z * 1e4
winner = far.argmax(axis=1)
gap = (far.max(axis=1) - far[np.arange(B), t]).mean()
# L is about 3e4 here, so compare the ratio: relative agreement to 1e-10
checks.exact("L at z * 1e4 / mean(max z - z[t])", cross_entropy(far, t) / gap, 1.0)
checks.exact("dz at z * 1e4 vs (onehot(argmax) - onehot(t))/B",
             cross_entropy_grad(far, t), (np.eye(K)[winner] - onehot) / B)
checks.claim("SoftmaxCrossEntropy at z * 1e4 finite", f"{float(ce.forward(far, t)):.6g}", "finite",
             np.isfinite(ce.forward(far, t)) and np.all(np.isfinite(ce.backward())))

# %%
checks.done()
