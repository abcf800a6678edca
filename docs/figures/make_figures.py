"""The figures of docs/derivation.md, computed with minicirc itself.

Every matrix drawn here is the matrix a minicirc layer applies, read off the layer by feeding
it the identity (bias off: ``layer.forward(I)`` has row ``j`` equal to column ``j`` of the
layer's matrix), so a figure cannot disagree with the code. Seeds are fixed: the same command
writes the same pictures.

    python docs/figures/make_figures.py              # writes docs/figures/*.png
    python docs/figures/make_figures.py --out DIR    # writes them to DIR instead
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Callable, Dict

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
if (ROOT / "minicirc" / "__init__.py").is_file() and str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))        # this checkout's minicirc, installed or not

import numpy as np  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.patches import FancyBboxPatch, Rectangle  # noqa: E402

import minicirc as mc  # noqa: E402

DPI = 100
DIVERGING = "RdBu_r"


def matrix_of(layer) -> np.ndarray:
    """The (d_out, d_in) matrix a bias-free layer applies: its output for the identity, transposed."""
    return np.asarray(layer.forward(np.eye(layer.d_in))).T


def square_circulant(r: np.ndarray, signs: np.ndarray = None) -> np.ndarray:
    """circ(r) D, from minicirc's Circulant with r (and the signs) put in."""
    n = len(r)
    layer = mc.Circulant(n, bias=False, sign_flip=signs is not None, rng=0, dtype=np.float64)
    layer.params["r"][...] = r
    if signs is not None:
        layer.buffers["signs"][...] = signs
    return matrix_of(layer)


def show_matrix(ax, M, *, vmax=None, cmap=DIVERGING, grid=True):
    vmax = float(np.abs(M).max()) if vmax is None else vmax
    im = ax.imshow(M, cmap=cmap, vmin=-vmax, vmax=vmax)
    rows, cols = M.shape
    ax.set_xticks(range(cols))
    ax.set_yticks(range(rows))
    ax.tick_params(labelsize=7, length=0)
    ax.xaxis.tick_top()
    if grid:
        for v in np.arange(-0.5, cols, 1.0):
            ax.axvline(v, color="white", lw=0.6)
        for v in np.arange(-0.5, rows, 1.0):
            ax.axhline(v, color="white", lw=0.6)
    return im


# -- circ(r) ---------------------------------------------------------------------------------

N_SMALL = 8
# distinct values, so that every wrapped diagonal has a colour of its own
R_SMALL = np.array([3.0, 2.0, 1.0, 0.3, -0.3, -1.0, -2.0, -3.0])


def fig_circulant(fig):
    """circ(r) for n = 8: r is the first column, each column is the one before shifted down."""
    C = square_circulant(R_SMALL)
    ax = fig.add_subplot(1, 1, 1)
    show_matrix(ax, C)
    n = N_SMALL
    for i in range(n):
        for j in range(n):
            k = (i - j) % n
            ax.text(j, i, f"$r_{k}$", ha="center", va="center", fontsize=9,
                    color="white" if abs(C[i, j]) > 1.5 else "black")
    ax.add_patch(Rectangle((-0.5, -0.5), 1, n, fill=False, ec="black", lw=2, zorder=5))
    ax.set_title(r"$C = \mathrm{circ}(r)$, $C_{ij} = r_{(i-j) \,\mathrm{mod}\, n}$ ($n = 8$):"
                 "\nthe first column is $r$; each column is the previous one shifted down, wrapping",
                 fontsize=9)
    ax.set_xlabel("column $j$", fontsize=8)
    ax.set_ylabel("row $i$", fontsize=8)


def fig_circulant_signs(fig):
    """circ(r), D = diag(s) and circ(r) D: D flips the sign of whole columns."""
    signs = np.array([1.0, -1.0, -1.0, 1.0, -1.0, 1.0, 1.0, -1.0])
    C = square_circulant(R_SMALL)
    CD = square_circulant(R_SMALL, signs)
    assert np.allclose(CD, C * signs)         # the layer's circ(r) D is circ(r) with columns flipped
    vmax = float(np.abs(C).max())
    titles = (r"$\mathrm{circ}(r)$", r"$D = \mathrm{diag}(s)$", r"$\mathrm{circ}(r)\,D$")
    for p, (M, title) in enumerate(zip((C, np.diag(signs) * vmax, CD), titles)):
        ax = fig.add_subplot(1, 3, p + 1)
        show_matrix(ax, M, vmax=vmax)
        ax.set_title(title, fontsize=10, pad=14)
    ax = fig.axes[1]
    for j, s in enumerate(signs):
        ax.text(j, j, "+1" if s > 0 else "−1", ha="center", va="center", fontsize=6, color="white")
    ax = fig.axes[2]
    for j, s in enumerate(signs):
        if s < 0:
            ax.add_patch(Rectangle((j - 0.5, -0.5), 1, N_SMALL, fill=False, ec="black", lw=2.2, zorder=5))
    fig.suptitle("$D$ multiplies column $j$ by $s_j = \\pm 1$ (boxed: the flipped columns); "
                 "$\\mathrm{circ}(r)\\,D$ is no longer circulant", fontsize=9, y=0.1)


# -- the DFT diagonalises circ(r) -------------------------------------------------------------

def fig_dft_diagonal(fig):
    """|F circ(r) F^-1| on a log scale: the diagonal is |F r|, the rest is rounding error."""
    n = N_SMALL
    r = np.random.default_rng(8).standard_normal(n)
    C = square_circulant(r)
    F = np.fft.fft(np.eye(n), axis=0)         # F @ a == fft(a)
    Finv = np.conj(F) / n
    Lam = F @ C @ Finv
    assert np.allclose(np.diag(Lam), np.fft.fft(r))
    ax = fig.add_subplot(1, 2, 1)
    show_matrix(ax, C)
    ax.set_title(r"$C = \mathrm{circ}(r)$, random $r$", fontsize=10, pad=14)
    ax = fig.add_subplot(1, 2, 2)
    logmag = np.log10(np.maximum(np.abs(Lam), 1e-17))
    im = ax.imshow(logmag, cmap="magma", vmin=-17, vmax=1)
    ax.set_xticks(range(n))
    ax.set_yticks(range(n))
    ax.tick_params(labelsize=7, length=0)
    ax.xaxis.tick_top()
    ax.set_title(r"$\log_{10} |F\,C\,F^{-1}|$", fontsize=10, pad=14)
    cb = fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    cb.ax.tick_params(labelsize=7)
    fig.suptitle(r"$F\,\mathrm{circ}(r)\,F^{-1} = \mathrm{diag}(F r)$: the diagonal holds the "
                 r"eigenvalues $F r$, off the diagonal only rounding ($\sim 10^{-16}$)",
                 fontsize=9, y=0.06)


# -- the data flow of the circulant layer ------------------------------------------------------

def fig_dataflow(fig):
    """Forward and backward of Circulant: arrays with their shapes, FFTs, the one batch sum."""
    ax = fig.add_subplot(1, 1, 1)
    ax.set_xlim(0, 17.2)
    ax.set_ylim(-1.0, 8.2)
    ax.axis("off")
    X = (1.0, 4.6, 8.2, 11.8, 16.0)           # the columns of the diagram

    def node(x, y, name, shape, color="#dbe8f6"):
        ax.add_patch(FancyBboxPatch((x - 0.75, y - 0.42), 1.5, 0.84, boxstyle="round,pad=0.05",
                                    fc=color, ec="#345", lw=1))
        ax.text(x, y + 0.13, name, ha="center", va="center", fontsize=11)
        ax.text(x, y - 0.22, shape, ha="center", va="center", fontsize=7.5, color="#333")

    def edge(a, b, label="", color="#222", style="-", rad=0.0, fs=8):
        ax.annotate("", xy=b, xytext=a, arrowprops=dict(arrowstyle="-|>", color=color, lw=1.2,
                                                        linestyle=style, shrinkA=30, shrinkB=30,
                                                        connectionstyle=f"arc3,rad={rad}"))
        if label:
            ax.text((a[0] + b[0]) / 2, (a[1] + b[1]) / 2 + 0.3, label, ha="center", va="center",
                    fontsize=fs, color=color)

    ax.text(0.1, 7.9, "forward", fontsize=10, weight="bold")
    ax.text(0.1, 3.35, "backward", fontsize=10, weight="bold")
    ax.axhline(3.75, color="#bbb", lw=0.8, ls=":")
    cache = "#a35c00"

    # forward: y = crop(irfft(R U)) + b, with U = rfft(s * pad(x)), R = rfft(r)
    node(X[0], 7.0, "$x$", "(B, d_in)")
    node(X[1], 7.0, "$u$", "(B, n)")
    node(X[2], 7.0, "$U$", "(B, m)", "#fde9c8")
    node(X[3], 7.0, "$RU$", "(B, m)")
    node(X[4], 7.0, "$y$", "(B, d_out)")
    node(X[1], 5.0, "$r$", "(n,)", "#e3f1de")
    node(X[2], 5.0, "$R$", "(m,)", "#fde9c8")
    edge((X[0], 7.0), (X[1], 7.0), r"$s\,\odot$, pad$_n$")
    edge((X[1], 7.0), (X[2], 7.0), "rfft")
    edge((X[2], 7.0), (X[3], 7.0), r"$R\,\odot$ each row")
    edge((X[3], 7.0), (X[4], 7.0), "irfft, crop, $+\\,b$  (C1)")
    edge((X[1], 5.0), (X[2], 5.0), "rfft")
    edge((X[2], 5.0), (X[3], 7.0))

    # backward
    node(X[4], 2.6, "$dy$", "(B, d_out)")
    node(X[3], 2.6, "$G$", "(B, m)")
    node(X[2], 2.6, r"$\bar R G$", "(B, m)")
    node(X[1], 2.6, "$du$", "(B, n)")
    node(X[0], 2.6, "$dx$", "(B, d_in)", "#e3f1de")
    node(X[2], 0.4, r"$\Sigma_b\, \bar U G$", "(m,)", "#f7d4d4")
    node(X[1], 0.4, "$dr$", "(n,)", "#e3f1de")
    node(X[4], 0.4, "$db$", "(d_out,)", "#e3f1de")
    edge((X[4], 2.6), (X[3], 2.6), "pad$_n$, rfft")
    edge((X[3], 2.6), (X[2], 2.6), r"$\bar R\,\odot$ each row")
    edge((X[2], 2.6), (X[1], 2.6), "irfft  (C3)")
    edge((X[1], 2.6), (X[0], 2.6), r"$s\,\odot$, crop  (C4)")
    edge((X[3], 2.6), (X[2], 0.4), color="#b00")
    ax.text(10.4, 1.05, r"$\bar U\,\odot$, then $\Sigma_b$: the one batch sum," "\non the spectra",
            fontsize=8, color="#b00", ha="left", va="center")
    edge((X[2], 0.4), (X[1], 0.4), "one irfft  (C2)", color="#b00")
    edge((X[4], 2.6), (X[4], 0.4))
    ax.text(X[4] + 0.2, 1.5, r"$\Sigma_b$", fontsize=9)
    # the cache feeds the backward products: R to conj(R) G, U to the batch sum
    edge((X[2], 5.0), (X[2], 2.6), color=cache, style="--")
    ax.text(X[2] - 0.15, 3.9, "cache $R$", fontsize=8, color=cache, ha="right")
    ax.annotate("", xy=(X[2] - 0.3, 0.4), xytext=(X[2] - 0.3, 7.0),
                arrowprops=dict(arrowstyle="-|>", color=cache, lw=1.0, linestyle="--",
                                shrinkA=30, shrinkB=30, connectionstyle="arc3,rad=0.45"))
    ax.text(5.75, 3.9, "cache $U$", fontsize=8, color=cache, ha="center")
    ax.text(0.1, -0.75, r"$m = \lfloor n/2 \rfloor + 1$ bins;  $\bar a$ = conj$(a)$;  "
            r"$G$ = rfft of pad$_n(dy)$, shared by $dr$ and $dx$", fontsize=8, color="#333")


# -- non-square layers: padding and cropping --------------------------------------------------

def fig_pad_crop(fig):
    """Circulant(6, 9) and Circulant(10, 4): the layer's matrix is the top-left block of circ(r) D."""
    for p, (d_in, d_out) in enumerate(((6, 9), (10, 4))):
        n = max(d_in, d_out)
        layer = mc.Circulant(d_in, d_out, bias=False, rng=10 + p, dtype=np.float64)
        M = matrix_of(layer)                                  # (d_out, d_in)
        full = square_circulant(layer.params["r"].copy(), layer.signs.copy())
        assert np.allclose(full[:d_out, :d_in], M)
        ax = fig.add_subplot(1, 2, p + 1)
        vmax = float(np.abs(full).max())
        ax.imshow(full, cmap=DIVERGING, vmin=-vmax, vmax=vmax, alpha=0.25)
        shown = np.full(full.shape, np.nan)
        shown[:d_out, :d_in] = M
        ax.imshow(shown, cmap=DIVERGING, vmin=-vmax, vmax=vmax)
        ax.add_patch(Rectangle((-0.5, -0.5), d_in, d_out, fill=False, ec="black", lw=2, zorder=5))
        ax.set_xticks(range(n))
        ax.set_yticks(range(n))
        ax.tick_params(labelsize=6, length=0)
        ax.xaxis.tick_top()
        kind = "input padded: first $d_{in}$ columns" if d_in < n else "output cropped: first $d_{out}$ rows"
        ax.set_title(f"Circulant({d_in}, {d_out}), $n = {n}$\n{kind}", fontsize=9, pad=12)
    fig.suptitle(r"the layer applies the top-left $d_{out} \times d_{in}$ block of "
                 r"$\mathrm{circ}(r)\,D$ (faded: the part padding and cropping remove)",
                 fontsize=9, y=0.05)


# -- what D does to a digit's spectrum --------------------------------------------------------

def fig_sign_flip_spectrum(fig):
    """Energy per frequency bin of a padded MNIST digit, without and with the signs of D."""
    from minicirc.mnist import load_mnist

    x = load_mnist().test[0][0].astype(np.float64)
    layer = mc.Circulant(784, 1024, bias=False, rng=0, dtype=np.float64)
    s = np.asarray(layer.signs)
    bins = np.arange(1024 // 2 + 1)
    plain = np.abs(np.fft.rfft(x, 1024)) ** 2
    flipped = np.abs(np.fft.rfft(s[:784] * x, 1024)) ** 2
    ax = fig.add_subplot(1, 1, 1)
    ax.semilogy(bins, plain, lw=0.8, label=r"$\mathrm{pad}_n(x)$: without $D$")
    ax.semilogy(bins, flipped, lw=0.8, alpha=0.8, label=r"$s \odot \mathrm{pad}_n(x)$: with $D$")
    for k in range(1, 15):
        ax.axvline(k * 1024 / 28, color="#999", lw=0.4, ls=":")
    ax.set_xlim(0, 512)
    ax.set_ylim(1e-2, None)
    ax.set_xlabel("frequency bin $k$ (dotted: multiples of 1024/28, one image row)", fontsize=8)
    ax.set_ylabel(r"$|\mathrm{rfft}|^2$", fontsize=8)
    ax.tick_params(labelsize=7)
    ax.legend(fontsize=8, loc="upper right")
    ax.set_title("one MNIST digit, flattened and padded to $n = 1024$: "
                 "$\\mathrm{circ}(r)$ scales bin $k$ by $R_k$ and keeps it there", fontsize=9)


# -- the block-circulant matrix ---------------------------------------------------------------

def fig_block_circulant(fig):
    """BlockCirculant(12, 8, block=4): a grid of circulant blocks; the block DFT makes each diagonal."""
    k, d_in, d_out = 4, 12, 8
    layer = mc.BlockCirculant(d_in, d_out, k, bias=False, sign_flip=False, rng=3, dtype=np.float64)
    W = matrix_of(layer)                                      # (8, 12): p = 2, q = 3
    F = np.fft.fft(np.eye(k), axis=0)
    Fo = np.kron(np.eye(d_out // k), F)                       # block-diagonal DFTs
    Fi_inv = np.kron(np.eye(d_in // k), np.conj(F) / k)
    T = Fo @ W @ Fi_inv
    ax = fig.add_subplot(1, 2, 1)
    show_matrix(ax, W)
    for v in np.arange(-0.5, d_in, k):
        ax.axvline(v, color="black", lw=1.6)
    for v in np.arange(-0.5, d_out, k):
        ax.axhline(v, color="black", lw=1.6)
    for i in range(d_out // k):
        for j in range(d_in // k):
            ax.text(j * k + 1.5, i * k + 1.5, f"circ(r[{i},{j}])", ha="center", va="center",
                    fontsize=7, bbox=dict(fc="white", ec="none", alpha=0.7, pad=1))
    ax.set_title("$W$: block $(i, j)$ is $\\mathrm{circ}(r[i, j])$, $k = 4$\n"
                 "$p = 2$ block rows, $q = 3$ block columns", fontsize=9, pad=12)
    ax = fig.add_subplot(1, 2, 2)
    logmag = np.log10(np.maximum(np.abs(T), 1e-17))
    im = ax.imshow(logmag, cmap="magma", vmin=-17, vmax=1)
    for v in np.arange(-0.5, d_in, k):
        ax.axvline(v, color="white", lw=1.2)
    for v in np.arange(-0.5, d_out, k):
        ax.axhline(v, color="white", lw=1.2)
    ax.set_xticks(range(d_in))
    ax.set_yticks(range(d_out))
    ax.tick_params(labelsize=6, length=0)
    ax.xaxis.tick_top()
    ax.set_title("$\\log_{10}|(I_p \\otimes F)\\, W\\, (I_q \\otimes F^{-1})|$:\n"
                 "every block diagonal; blocks mix only within a frequency", fontsize=9, pad=12)
    cb = fig.colorbar(im, ax=ax, fraction=0.03, pad=0.03)
    cb.ax.tick_params(labelsize=6)


# -- convolution (for the CNN section) --------------------------------------------------------

X_CONV = np.array([[1, 0, 2, 1, 0],
                   [0, 1, 3, 0, 1],
                   [2, 1, 0, 1, 2],
                   [1, 0, 1, 2, 0],
                   [0, 2, 1, 0, 1]], dtype=float)
W_CONV = np.array([[1, 0, -1],
                   [2, 1, 0],
                   [0, -1, 1]], dtype=float)


def correlate_valid(x, w):
    """y[i, j] = sum_{a, b} x[i + a, j + b] w[a, b]: the forward of a convolution layer."""
    kh, kw = w.shape
    out = np.zeros((x.shape[0] - kh + 1, x.shape[1] - kw + 1))
    for i in range(out.shape[0]):
        for j in range(out.shape[1]):
            out[i, j] = np.sum(x[i:i + kh, j:j + kw] * w)
    return out


def draw_grid(ax, A, origin, *, highlight=None, color="#cfe2f3", hcolor="#f6b26b", label=None,
              fmt="{:g}", faded=None):
    """A matrix as a grid of numbered cells, lower-left corner at origin (rows go down)."""
    ox, oy = origin
    rows, cols = A.shape
    for i in range(rows):
        for j in range(cols):
            inside = highlight is not None and highlight[0] <= i < highlight[2] and highlight[1] <= j < highlight[3]
            fc = hcolor if inside else ("#eeeeee" if faded is not None and faded[i, j] else color)
            ax.add_patch(Rectangle((ox + j, oy + rows - 1 - i), 1, 1, fc=fc, ec="#555", lw=0.8))
            ax.text(ox + j + 0.5, oy + rows - 1 - i + 0.5, fmt.format(A[i, j]), ha="center",
                    va="center", fontsize=8, color="#999" if faded is not None and faded[i, j] else "black")
    if label:
        ax.text(ox + cols / 2, oy + rows + 0.35, label, ha="center", va="bottom", fontsize=9)


def fig_conv_sliding(fig):
    """A 3x3 kernel sliding over a 5x5 input: each output is one window times the kernel."""
    y = correlate_valid(X_CONV, W_CONV)
    positions = ((0, 0), (1, 2))
    for p, (i, j) in enumerate(positions):
        ax = fig.add_subplot(1, 2, p + 1)
        ax.set_xlim(-0.3, 15.3)
        ax.set_ylim(-1.6, 6.6)
        ax.set_aspect("equal")
        ax.axis("off")
        draw_grid(ax, X_CONV, (0, 0), highlight=(i, j, i + 3, j + 3), label="input $x$ (5×5)")
        draw_grid(ax, W_CONV, (6.2, 1), color="#d9ead3", label="kernel $w$ (3×3)")
        draw_grid(ax, y, (11.4, 1), highlight=(i, j, i + 1, j + 1), label="output $y$ (3×3)")
        ax.text(5.6, 2.5, "⊙", fontsize=14, ha="center", va="center")
        ax.text(10.8, 2.5, "=", fontsize=14, ha="center", va="center")
        window = X_CONV[i:i + 3, j:j + 3]
        assert np.sum(window * W_CONV) == y[i, j]
        ax.text(7.5, -1.0, f"$y_{{{i}{j}}} = \\Sigma_{{a,b}}\\, x_{{{i}+a,\\,{j}+b}}\\, w_{{ab}} = {y[i, j]:g}$",
                ha="center", fontsize=9)
    fig.suptitle(r"forward: the kernel slides over the input; $y_{ij} = \Sigma_{a,b}\, x_{i+a,\,j+b}\, w_{ab}$ "
                 "(shaded: one window and the output it makes)", fontsize=9, y=0.9)


def fig_conv_flipped(fig):
    """The backward's full convolution: dy zero-padded by 2, slid over by the kernel flipped."""
    rng = np.random.default_rng(5)
    dy = rng.integers(-2, 3, size=(3, 3)).astype(float)
    kh, kw = W_CONV.shape
    flipped = W_CONV[::-1, ::-1]
    padded = np.pad(dy, ((kh - 1, kh - 1), (kw - 1, kw - 1)))
    dx = correlate_valid(padded, flipped)                    # the full convolution of dy with w
    # The same dx from the forward's index sum: dx[i + a, j + b] += dy[i, j] w[a, b].
    dx_sum = np.zeros_like(X_CONV)
    for i in range(3):
        for j in range(3):
            dx_sum[i:i + kh, j:j + kw] += dy[i, j] * W_CONV
    assert np.array_equal(dx, dx_sum)
    i, j = 1, 2
    ax = fig.add_subplot(1, 1, 1)
    ax.set_xlim(-0.3, 22.5)
    ax.set_ylim(-1.2, 8.9)
    ax.set_aspect("equal")
    ax.axis("off")
    draw_grid(ax, W_CONV, (0, 4.8), color="#d9ead3", label="kernel $w$")
    draw_grid(ax, flipped, (0, 0.5), color="#d9ead3", label="rotated 180°: $w_{2-a,\\,2-b}$")
    pad_mask = np.ones_like(padded, dtype=bool)
    pad_mask[kh - 1:kh - 1 + 3, kw - 1:kw - 1 + 3] = False
    draw_grid(ax, padded, (5.3, 0.5), highlight=(i, j, i + kh, j + kw),
              label="$dy$ (3×3), zero-padded by 2", faded=pad_mask)
    for a in range(kh):                       # the flipped kernel's entry on each cell it covers
        for b in range(kw):
            ax.text(5.3 + j + b + 0.93, 0.5 + 7 - 1 - (i + a) + 0.9, f"×{flipped[a, b]:g}", ha="right",
                    va="top", fontsize=6, color="#2d6a1f")
    draw_grid(ax, dx, (14.6, 1.5), highlight=(i, j, i + 1, j + 1), label="$dx$ (5×5)")
    ax.text(13.95, 4.0, "=", fontsize=14, ha="center", va="center")
    ax.text(11.0, -0.8, f"$dx_{{{i}{j}}} = \\Sigma_{{a,b}}\\, dy^{{pad}}_{{{i}+a,\\,{j}+b}}\\, "
            f"w_{{2-a,\\,2-b}} = {dx[i, j]:g}$", ha="center", fontsize=9)
    fig.suptitle("backward: $dx$ is the full convolution of $dy$ with $w$, that is the flipped "
                 "kernel sliding over $dy$ padded by (kernel size − 1)", fontsize=9, y=0.93)


# -- the list, and the command ----------------------------------------------------------------

FIGURES: Dict[str, tuple] = {
    "circulant.png": (fig_circulant, (4.6, 4.6)),
    "circulant_signs.png": (fig_circulant_signs, (9.0, 3.6)),
    "dft_diagonal.png": (fig_dft_diagonal, (8.0, 4.0)),
    "circulant_dataflow.png": (fig_dataflow, (11.5, 6.2)),
    "pad_crop.png": (fig_pad_crop, (8.0, 4.6)),
    "sign_flip_spectrum.png": (fig_sign_flip_spectrum, (8.0, 3.6)),
    "block_circulant.png": (fig_block_circulant, (10.0, 4.0)),
    "conv_sliding.png": (fig_conv_sliding, (10.0, 3.2)),
    "conv_flipped_kernel.png": (fig_conv_flipped, (10.0, 4.4)),
}


def make(name: str, out: Path) -> Path:
    draw, size = FIGURES[name]
    fig = Figure(figsize=size)
    draw(fig)
    path = out / name
    fig.savefig(path, dpi=DPI, bbox_inches="tight")
    return path


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=HERE, help=f"folder to write to (default: {HERE})")
    parser.add_argument("names", nargs="*", help=f"figures to make (default: all of {sorted(FIGURES)})")
    args = parser.parse_args(argv)
    unknown = sorted(set(args.names) - set(FIGURES))
    if unknown:
        parser.error(f"no figure named {', '.join(unknown)}; the figures are {', '.join(sorted(FIGURES))}")
    args.out.mkdir(parents=True, exist_ok=True)
    for name in args.names or FIGURES:
        print(make(name, args.out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
