"""Gradient-checking a layer you wrote yourself, and a planted bug that the check exposes.

The layer is a scaled tanh with a learnable scale ``a`` and shift ``b`` per feature::

    y  = a * tanh(x) + b        (B, d)
    dx = dy * a * (1 - tanh(x)^2)
    da = sum_batch dy * tanh(x)
    db = sum_batch dy

``check_layer`` compares dx, da and db with central differences on a float64 copy;
``check_model`` checks a whole Sequential through the loss; ``directional=True`` checks one
random direction per array for a layer too large to check element by element. The buggy
variant writes ``1 - y^2`` (the layer's output, scale and shift included) where
``1 - tanh(x)^2`` belongs, and the table of ``GradientCheckError`` names dx; with
``raise_on_fail=False`` the result is that table, and it is false. Guide:
docs/gradcheck.md. Run:

    python examples/04_gradcheck_your_layer.py
"""
# %%
from _check import Checks  # first: it puts this checkout's minicirc on the path


# %% [markdown]
# ## A layer of your own, checked by `check_layer`

# %%
# [docs:your-layer]
import numpy as np

import minicirc as mc
from minicirc.gradcheck import GradientCheckError, check_layer, check_model


class ScaledTanh(mc.Layer):
    """y = a * tanh(x) + b, with a and b learnable, shape (d,)."""

    def __init__(self, d, *, dtype=np.float32, backend=None):
        super().__init__(dtype=dtype, backend=backend)
        self.check_sizes(d=d)                   # "ScaledTanh: d must be a positive integer, got 0"
        self.d = d
        self.params["a"] = np.full(d, 1.5, dtype=self.dtype)
        self.params["b"] = np.zeros(d, dtype=self.dtype)

    def forward(self, x):
        x = self.check_input(x, self.d)        # shape, dtype and finiteness, with clear errors
        th = np.tanh(x)
        self.cache = (th,)                      # what backward needs, in one place
        return self.params["a"] * th + self.params["b"]

    def backward(self, dy):
        (th,) = self.cached()
        dy = self.check_dy(dy, th.shape)
        self.grads["a"] = (dy * th).sum(axis=0)
        self.grads["b"] = dy.sum(axis=0)
        return dy * self.params["a"] * (1 - th * th)


rng = np.random.default_rng(0)
x = rng.standard_normal((4, 6)) * 1.3 + 0.2
errors = check_layer(ScaledTanh(6), x)          # raises GradientCheckError on failure
print(errors)                                   # the table: dx, da, db, each ok
# [/docs:your-layer]

errors_ok = errors


# %% [markdown]
# ## A planted bug, and the table that names it

# %%
# [docs:planted-bug]
class BuggyScaledTanh(ScaledTanh):
    """The same layer with a classic slip: 1 - y^2 instead of 1 - tanh(x)^2."""

    def backward(self, dy):
        super().backward(dy)
        y = self.params["a"] * self.cache[0] + self.params["b"]
        return dy * self.params["a"] * (1 - y * y)


caught = {}
try:
    check_layer(BuggyScaledTanh(6), x)
except GradientCheckError as e:
    print(e)                                    # the table: dx FAIL, da ok, db ok
    caught = e.errors

result = check_layer(BuggyScaledTanh(6), x, raise_on_fail=False)
assert not result                               # a failed check is false: `assert result` fails
# [/docs:planted-bug]

print()

# %%
checks = Checks("Gradient-checking your own layer with minicirc.gradcheck")
for name, err in errors_ok.items():
    checks.bound(f"check_layer(ScaledTanh): {name} (rel)", err, 1e-6)
checks.claim("planted bug: dx flagged", f"{caught['dx']:.1e}", "> 1e-06", caught["dx"] > 1e-6)
checks.bound("planted bug: da unaffected (rel)", caught["da"], 1e-6)
checks.bound("planted bug: db unaffected (rel)", caught["db"], 1e-6)
checks.claim("planted bug: raise_on_fail=False gives a false result", str(bool(result)), "False", not result)

# %% [markdown]
# ## A whole model, and a layer too large to check element by element

# %%
# [docs:check-model]
model = mc.Sequential(mc.Dense(6, 5, rng=1), ScaledTanh(5), mc.Dense(5, 3, rng=2))
labels = np.array([0, 2, 1, 2])
errors = check_model(model, mc.SoftmaxCrossEntropy(), x, labels)
# {'dx': ..., '0.W': ..., '0.b': ..., '1.a': ..., '1.b': ..., '2.W': ..., '2.b': ...}

big = ScaledTanh(4096)                          # x 8 x 4096, a and b 4096 each: one direction per array
errors_big = check_layer(big, rng.standard_normal((8, 4096)), directional=True)
# [/docs:check-model]


# %%
for name, err in errors.items():
    checks.bound(f"check_model: {name} (rel)", err, 1e-6)
for name, err in errors_big.items():
    checks.bound(f"check_layer(directional, d=4096): {name}", err, 1e-6)

# %% [markdown]
# The directional check catches the planted bug too.

# %%
try:
    check_layer(BuggyScaledTanh(4096), rng.standard_normal((8, 4096)), directional=True)
    flagged = {}
except GradientCheckError as e:
    flagged = e.errors
checks.claim("directional check flags the planted bug", f"dx {flagged.get('dx', 0):.1e}", "> 1e-06",
             flagged.get("dx", 0) > 1e-6)

# %%
checks.done()
