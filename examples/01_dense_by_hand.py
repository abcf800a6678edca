"""The dense layer by hand: forward, dx, dW, db, each against a brute-force reference.

    y  = x @ W + b          (B, d_out)      docs/derivation.md, "The dense layer"
    dx = dy @ W.T           (B, d_in)
    dW = x.T @ dy           (d_in, d_out)
    db = sum_batch dy       (d_out,)

The loss is L = 0.5 * sum((y - t)^2), so dy = y - t. Each gradient is compared twice: with
the index-sum formula it came from (loops, exact to rounding) and with central differences
of L (minicirc.gradcheck.numerical_grad, relative error below 1e-6). Run:

    python examples/01_dense_by_hand.py
"""
# %%
import numpy as np

from _check import Checks  # first: it puts this checkout's minicirc on the path

import minicirc as mc
from minicirc.gradcheck import check_layer, numerical_grad


# %% [markdown]
# A small batch with non-standard values, and the table every check writes a row into.

# %%
B, d_in, d_out = 4, 5, 3
rng = np.random.default_rng(20150226)
# Non-standard values: an offset input, weights not centred at 0, a bias far from 0.
x = rng.standard_normal((B, d_in)) + 0.5
W = rng.standard_normal((d_in, d_out)) * 0.7 - 0.2
b = np.array([0.3, -1.7, 2.5])
t = rng.standard_normal((B, d_out))          # regression targets

checks = Checks(f"The dense layer by hand: B={B}, d_in={d_in}, d_out={d_out}, float64")

# %% [markdown]
# ## The forward pass and the three gradients
#
# $y = xW + b$, $dx = dy\,W^T$, $dW = x^T dy$, $db = \sum_b dy$ (docs/derivation.md, "The dense layer").

# %%
# [docs:dense-layer]
y = x @ W + b                                # (B, d_out)
L = 0.5 * np.sum((y - t) ** 2)               # scalar loss
dy = y - t                                   # dL/dy, (B, d_out)
dx = dy @ W.T                                # (B, d_in)
dW = x.T @ dy                                # (d_in, d_out)
db = dy.sum(axis=0)                          # (d_out,)
# [/docs:dense-layer]

# %% [markdown]
# ## Brute force

# %%
# Brute force: the index sums, one scalar at a time.
#   y[b, i] = sum_j x[b, j] W[j, i] + b[i]
#   dL/dx[b, j] = sum_i dy[b, i] dy[b, i]/dx[b, j] = sum_i dy[b, i] W[j, i]
#   dL/dW[j, i] = sum_b dy[b, i] x[b, j]        (W[j, i] appears in y[b, i] for every b)
#   dL/db[i]    = sum_b dy[b, i]
y_bf = np.zeros((B, d_out))
dx_bf = np.zeros((B, d_in))
dW_bf = np.zeros((d_in, d_out))
db_bf = np.zeros(d_out)
for bb in range(B):
    for i in range(d_out):
        y_bf[bb, i] = sum(x[bb, j] * W[j, i] for j in range(d_in)) + b[i]
for bb in range(B):
    for j in range(d_in):
        dx_bf[bb, j] = sum((y_bf[bb, i] - t[bb, i]) * W[j, i] for i in range(d_out))
for j in range(d_in):
    for i in range(d_out):
        dW_bf[j, i] = sum((y_bf[bb, i] - t[bb, i]) * x[bb, j] for bb in range(B))
for i in range(d_out):
    db_bf[i] = sum(y_bf[bb, i] - t[bb, i] for bb in range(B))

checks.exact("y = x W + b vs index sums", y, y_bf)
checks.exact("dx = dy W^T vs index sums", dx, dx_bf)
checks.exact("dW = x^T dy vs index sums", dW, dW_bf)
checks.exact("db = sum_batch dy vs index sums", db, db_bf)


# %% [markdown]
# ## Central differences

# %%
# Central differences of the scalar L: numerical_grad(f, a, 1.0) perturbs a in place.
def loss() -> float:
    return 0.5 * np.sum((x @ W + b - t) ** 2)


checks.close("dx vs central differences (rel)", dx, numerical_grad(loss, x, 1.0))
checks.close("dW vs central differences (rel)", dW, numerical_grad(loss, W, 1.0))
checks.close("db vs central differences (rel)", db, numerical_grad(loss, b, 1.0))

# %% [markdown]
# ## The library's layer
# The library's Dense layer with the same W and b computes the same numbers.

# %%
layer = mc.Dense(d_in, d_out, rng=0, dtype=np.float64)
layer.params["W"][...] = W
layer.params["b"][...] = b
checks.exact("Dense.forward vs y", layer.forward(x), y)
checks.exact("Dense.backward vs dx", layer.backward(dy), dx)
checks.exact("Dense.grads['W'] vs dW", layer.grads["W"], dW)
checks.exact("Dense.grads['b'] vs db", layer.grads["b"], db)

# %% [markdown]
# And minicirc's checker agrees (it uses its own random dy and random non-zero biases).

# %%
for name, err in check_layer(layer, x).items():
    checks.bound(f"check_layer(Dense): {name} (rel)", err, 1e-6)

# %%
checks.done()
