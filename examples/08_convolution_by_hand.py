# %% [markdown]
# # Convolution and pooling by hand
#
# Conv2D and MaxPool2D checked step by step, in float64, for odd and even image sizes, with
# stride and padding:
#
# - Conv2D's forward (K1) and its gradients dW (K2), db (K3), dx (K4) against explicit index
#   loops;
# - MaxPool2D's forward (P1) and its routing of dy to the arg-max (P2), ties included;
# - the 2-D DFT diagonalises a circular 2-D convolution, as the 1-D DFT diagonalises circ(r):
#   fft2(r (*) u) = fft2(r) fft2(u), and F2 C F2^-1 is diagonal for the explicit matrix C;
# - the bridge: a stride-1 Conv2D is a cropped circular convolution of the zero-padded image,
#   so its dW and dx are the circulant layer's (C2) and (C3) with fft2 in place of fft;
# - every gradient against central differences.
#
# The loss is L = sum(y * dy) for a fixed random dy, so dL/dy = dy. Derivation:
# docs/derivation.md, section "Convolution and pooling". This file is in jupytext's percent
# format (open it as a notebook with jupytext) and runs as a plain script:
#
#     python examples/08_convolution_by_hand.py

# %%
import numpy as np

from _check import Checks  # first: it puts this checkout's minicirc on the path

import minicirc as mc
from minicirc.gradcheck import check_layer, numerical_grad

B = 2
checks = Checks(f"Convolution and pooling by hand: batch {B}, float64")


# %% [markdown]
# ## The slow, obvious references
#
# `x~` is the image with `p` zeros around it. Output pixel (h, w) of channel o reads the
# k x k window of x~ whose top-left corner is (s h, s w), weighted by W[o] (no kernel flip:
# PyTorch's "convolution" is this cross-correlation). Its gradients follow term by term: each
# product W[o, c, i, j] x~[b, c, s h + i, s w + j] sends dy[b, o, h, w] times the other factor
# to each of its two factors.

# %%
def conv_loops(x, W, bias, s, p):
    n_b, C, H, Wd = x.shape
    O, _, k, _ = W.shape
    xp = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))
    ho, wo = (H + 2 * p - k) // s + 1, (Wd + 2 * p - k) // s + 1
    y = np.zeros((n_b, O, ho, wo))
    for b in range(n_b):
        for o in range(O):
            for h in range(ho):
                for w in range(wo):
                    window = xp[b, :, s * h: s * h + k, s * w: s * w + k]     # (C, k, k)
                    y[b, o, h, w] = bias[o] + np.sum(W[o] * window)
    return y


def conv_grads_loops(x, W, dy, s, p):
    n_b, C, H, Wd = x.shape
    O, _, k, _ = W.shape
    xp = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))
    dW, dxp, db = np.zeros_like(W), np.zeros_like(xp), np.zeros(O)
    for b in range(n_b):
        for o in range(O):
            for h in range(dy.shape[2]):
                for w in range(dy.shape[3]):
                    g = dy[b, o, h, w]
                    db[o] += g
                    dW[o] += g * xp[b, :, s * h: s * h + k, s * w: s * w + k]
                    dxp[b, :, s * h: s * h + k, s * w: s * w + k] += g * W[o]
    return dW, db, dxp[:, :, p: p + H, p: p + Wd]          # the padding's gradient is dropped


def pool_loops(x, k, s, dy):
    n_b, C, H, Wd = x.shape
    ho, wo = (H - k) // s + 1, (Wd - k) // s + 1
    y, dx = np.zeros((n_b, C, ho, wo)), np.zeros_like(x)
    for b in range(n_b):
        for c in range(C):
            for h in range(ho):
                for w in range(wo):
                    window = x[b, c, s * h: s * h + k, s * w: s * w + k]
                    i, j = np.unravel_index(np.argmax(window), window.shape)  # the first maximum
                    y[b, c, h, w] = window[i, j]
                    dx[b, c, s * h + i, s * w + j] += dy[b, c, h, w]
    return y, dx


# %% [markdown]
# ## Conv2D: forward and gradients against the loops, then central differences
#
# Non-standard values: weights off-centre, biases far from zero, images with an offset.

# %%
for (C, O, k, s, p, H, Wd) in [(2, 3, 3, 1, 0, 6, 6), (2, 3, 3, 2, 1, 7, 8), (1, 2, 5, 1, 2, 5, 7)]:
    checks.section(f"Conv2D({C}, {O}, kernel={k}, stride={s}, padding={p}) on {H}x{Wd} images")
    rng = np.random.default_rng(100 * k + 10 * s + p)
    layer = mc.Conv2D(C, O, k, stride=s, padding=p, rng=0, dtype=np.float64)
    layer.params["W"][...] = rng.standard_normal(layer.params["W"].shape) + 0.2
    layer.params["b"][...] = rng.standard_normal(O) - 1.5
    x = rng.standard_normal((B, C, H, Wd)) + 0.4
    y = layer.forward(x)
    dy = rng.standard_normal(y.shape)
    dx = layer.backward(dy)
    W, bias = layer.params["W"], layer.params["b"]
    dW, db, dx_loops = conv_grads_loops(x, W, dy, s, p)
    checks.exact("y: Conv2D.forward vs loops (K1)", y, conv_loops(x, W, bias, s, p))
    checks.exact("dW: Conv2D vs loops (K2)", layer.grads["W"], dW)
    checks.exact("db: Conv2D vs loops (K3)", layer.grads["b"], db)
    checks.exact("dx: Conv2D.backward vs loops (K4)", dx, dx_loops)

    def f():
        return layer.forward(x)

    checks.close("dW vs central differences (rel)", dW, numerical_grad(f, W, dy))
    checks.close("db vs central differences (rel)", db, numerical_grad(f, bias, dy))
    checks.close("dx vs central differences (rel)", dx_loops, numerical_grad(f, x, dy))


# %% [markdown]
# ## MaxPool2D: the arg-max gets all of dy
#
# At a tie the maximum is not differentiable. minicirc, like PyTorch, gives the whole dy to
# ONE of the tied inputs, the first in row-major window order (`np.argmax` picks the first
# too). Integer-valued images make ties common; then the finite-difference check uses
# distinct values, where the max is differentiable.

# %%
for (k, s, H, Wd) in [(2, 2, 6, 7), (3, 2, 7, 7), (3, 1, 5, 6)]:
    checks.section(f"MaxPool2D({k}, stride={s}) on {H}x{Wd} images")
    rng = np.random.default_rng(10 * k + s)
    pool = mc.MaxPool2D(k, s)
    x_ties = rng.integers(0, 3, size=(B, 2, H, Wd)).astype(np.float64)
    y = pool.forward(x_ties)
    dy = rng.standard_normal(y.shape) + 0.5
    dx = pool.backward(dy)
    y_loops, dx_loops = pool_loops(x_ties, k, s, dy)
    checks.exact("y: MaxPool2D vs loops (P1), with ties", y, y_loops)
    checks.exact("dx: MaxPool2D vs loops (P2), with ties", dx, dx_loops)
    checks.exact("sum dx = sum dy (one winner per window)", dx.sum(), dy.sum())
    x = rng.permutation(B * 2 * H * Wd).reshape(B, 2, H, Wd) * 0.1 - 3.0   # distinct values
    y = pool.forward(x)
    dx = pool.backward(dy)
    checks.close("dx vs central differences (rel)", dx, numerical_grad(lambda: pool.forward(x), x, dy))

x = np.array([[[[1.0, 5.0], [5.0, 5.0]]]])
pool = mc.MaxPool2D(2)
pool.forward(x)
checks.exact("three tied maxima: dy goes to (0, 1) only", pool.backward(np.array([[[[2.0]]]])),
             np.array([[[[0.0, 2.0], [0.0, 0.0]]]]))


# %% [markdown]
# ## The 2-D DFT diagonalises a circular 2-D convolution
#
# On an M x N grid, (r (*) u)[m, n] = sum_{i, j} r[i, j] u[(m - i) mod M, (n - j) mod N]. As a
# matrix on the flattened image (index m N + n) this is C[(m, n), (a, b)] =
# r[(m - a) mod M, (n - b) mod N]: a block circulant with circulant blocks. The 2-D DFT
# matrix is F2 = kron(F_M, F_N), and F2 C F2^-1 = diag(fft2(r)): the 1-D statement
# F circ(r) F^-1 = diag(F r) of the circulant layer, once per axis.

# %%
def dft_matrix(n):
    kk, j = np.indices((n, n))
    return np.exp(-2j * np.pi * j * kk / n)


for M, N in [(4, 5), (6, 6)]:
    checks.section(f"circular convolution on a {M}x{N} grid")
    rng = np.random.default_rng(M * N)
    r, u = rng.standard_normal((M, N)) + 0.3, rng.standard_normal((M, N)) - 0.2
    conv = np.zeros((M, N))
    for m in range(M):
        for n in range(N):
            for i in range(M):
                for j in range(N):
                    conv[m, n] += r[i, j] * u[(m - i) % M, (n - j) % N]
    checks.exact("fft2(r (*) u) = fft2(r) fft2(u)", np.fft.fft2(conv), np.fft.fft2(r) * np.fft.fft2(u))
    m, n, a, b = np.indices((M, N, M, N))
    Cmat = r[(m - a) % M, (n - b) % N].reshape(M * N, M * N)
    checks.exact("C vec(u) = vec(r (*) u)", Cmat @ u.ravel(), conv.ravel())
    F2 = np.kron(dft_matrix(M), dft_matrix(N))
    Lam = F2 @ Cmat @ np.linalg.inv(F2)
    checks.exact("off-diagonal of F2 C F2^-1", Lam - np.diag(np.diag(Lam)), np.zeros_like(Lam))
    checks.exact("diagonal of F2 C F2^-1 vs fft2(r)", np.diag(Lam), np.fft.fft2(r).ravel())


# %% [markdown]
# ## The bridge: Conv2D's gradients are (C2) and (C3) in two dimensions
#
# On the padded grid M x N = (H + 2p) x (W + 2p), place the flipped kernel circularly,
# r[o, c][(-i) mod M, (-j) mod N] = W[o, c, i, j]. Then (r (*) x~)[h, w] = sum_{i, j}
# W[i, j] x~[(h + i) mod M, (w + j) mod N], which for the valid outputs (h <= M - k) never
# wraps: a stride-1 Conv2D is the top-left Ho x Wo crop of a circular convolution, as the
# circulant layer's y is the crop of circ(r) u. With U = fft2(x~), R = fft2(r) and
# G = fft2(pad(dy)) (padding is the adjoint of cropping), summing over channels as the
# block-circulant layer sums over blocks:
#
#     y   = crop( ifft2( sum_c R[o, c] U[b, c] ) )           like (C1)
#     dr  = ifft2( sum_b conj(U[b, c]) G[b, o] )              like (C2); dW[o, c, i, j] = dr[(-i), (-j)]
#     dx~ = ifft2( sum_o conj(R[o, c]) G[b, o] )              like (C3); dx = crop_p(dx~)

# %%
C, O, k, p, H, Wd = 2, 3, 3, 1, 6, 7
checks.section(f"Conv2D({C}, {O}, kernel={k}, padding={p}) on {H}x{Wd} images through fft2")
rng = np.random.default_rng(8)
layer = mc.Conv2D(C, O, k, padding=p, rng=0, dtype=np.float64)
layer.params["W"][...] = rng.standard_normal(layer.params["W"].shape) - 0.1
layer.params["b"][...] = rng.standard_normal(O) + 2.0
x = rng.standard_normal((B, C, H, Wd)) + 0.4
y = layer.forward(x)
dy = rng.standard_normal(y.shape)
dx = layer.backward(dy)
W = layer.params["W"]
M, N = H + 2 * p, Wd + 2 * p
ho, wo = y.shape[2:]
r = np.zeros((O, C, M, N))
i, j = np.indices((k, k))
r[:, :, (-i) % M, (-j) % N] = W                                 # the flipped kernel, wrapped
U = np.fft.fft2(np.pad(x, ((0, 0), (0, 0), (p, p), (p, p))))    # (B, C, M, N)
R = np.fft.fft2(r)                                              # (O, C, M, N)
G = np.fft.fft2(np.pad(dy, ((0, 0), (0, 0), (0, M - ho), (0, N - wo))))   # (B, O, M, N)
y_fft = np.fft.ifft2(np.einsum("ocmn,bcmn->bomn", R, U)).real[:, :, :ho, :wo] + layer.params["b"][:, None, None]
dr = np.fft.ifft2(np.einsum("bcmn,bomn->ocmn", np.conj(U), G)).real
dx_pad = np.fft.ifft2(np.einsum("ocmn,bomn->bcmn", np.conj(R), G)).real
checks.exact("y: Conv2D vs crop(ifft2(R U)) (C1)", y, y_fft)
checks.exact("dW: Conv2D vs ifft2(sum_b conj(U) G) (C2)", layer.grads["W"], dr[:, :, (-i) % M, (-j) % N])
checks.exact("dx: Conv2D vs crop_p(ifft2(conj(R) G)) (C3)", dx, dx_pad[:, :, p: p + H, p: p + Wd])


# %% [markdown]
# ## minicirc's own gradient check, for the record

# %%
for name, lyr, xx in [("Conv2D k=3 s=2 p=2", mc.Conv2D(2, 3, 3, stride=2, padding=2, rng=1),
                       rng.standard_normal((2, 2, 7, 6))),
                      ("MaxPool2D(2)", mc.MaxPool2D(2), rng.permutation(2 * 2 * 6 * 7).reshape(2, 2, 6, 7) * 0.1)]:
    for grad, err in check_layer(lyr, xx).items():
        checks.bound(f"check_layer {name}: {grad}", err, 1e-6)

checks.done()
