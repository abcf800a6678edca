"""The block-circulant layer against the explicit block matrix, Dense, Circulant and gradcheck."""
import numpy as np
import pytest
import scipy.linalg

import minicirc as mc
from minicirc.backends import NumpyBackend, get_backend
from minicirc.gradcheck import GradientCheckError, check_layer, check_model
from minicirc.layers.base import NonFiniteError
from minicirc.mnist.models import build_mlp

# (d_in, d_out, k): k dividing both, neither, one of them; odd and even k; k = 1; k larger
# than a width; square and non-square block grids (p = q > 1 catches a transposed grid).
SHAPES = [(12, 8, 4), (10, 6, 4), (7, 5, 3), (5, 7, 2), (13, 9, 5), (9, 9, 9), (8, 3, 8),
          (6, 11, 1), (1, 1, 1), (12, 20, 6), (3, 4, 7), (15, 14, 5), (8, 8, 2)]
MODES = [(True, True), (False, False), (True, False)]


def explicit_matrix(layer):
    """The d_out x d_in matrix the layer applies: crop(blocks(circ(r[i, j])) diag(s)) of the padded input."""
    r = layer.params["r"]
    p, q, _ = r.shape
    M = np.block([[scipy.linalg.circulant(r[i, j]) for j in range(q)] for i in range(p)])
    M = M @ np.diag(layer.signs)
    return M[: layer.d_out, : layer.d_in]


def explicit_dr(layer, x, dy):
    """dL/dr by brute force: the gradient of the full block matrix, ``pad(dy).T @ (s * pad(x))``,
    summed over the entries of block (i, j) that hold r[i, j, t], i.e. where (a - c) mod k = t."""
    p, q, k = layer.params["r"].shape
    u = np.zeros((x.shape[0], q * k)); u[:, : layer.d_in] = x
    u = u * layer.signs
    g = np.zeros((dy.shape[0], p * k)); g[:, : layer.d_out] = dy
    dM = (g.T @ u).reshape(p, k, q, k)                                # dM[i, a, j, c]
    a, c = np.meshgrid(np.arange(k), np.arange(k), indexing="ij")
    onehot = ((a - c) % k)[None, :, :] == np.arange(k)[:, None, None]  # onehot[t, a, c]
    return np.einsum("iajc,tac->ijt", dM, onehot.astype(float))


def close(a, b, tol=1e-10):
    """Max difference against the scale of the reference (at least 1)."""
    b = np.asarray(b)
    np.testing.assert_allclose(a, b, rtol=0, atol=tol * max(1.0, float(np.abs(b).max())))


def make(d_in, d_out, k, *, bias=True, sign_flip=True, seed=0, **kw):
    rng = np.random.default_rng(seed)
    layer = mc.BlockCirculant(d_in, d_out, k, bias=bias, sign_flip=sign_flip, rng=rng,
                              dtype=np.float64, **kw)
    if bias:
        layer.params["b"][...] = rng.standard_normal(d_out)
    return layer


@pytest.mark.parametrize("d_in,d_out,k", SHAPES)
@pytest.mark.parametrize("batch", [1, 5])
@pytest.mark.parametrize("bias,sign_flip", MODES)
def test_forward_and_gradients_equal_block_matrix(d_in, d_out, k, batch, bias, sign_flip):
    layer = make(d_in, d_out, k, bias=bias, sign_flip=sign_flip, seed=d_in * 100 + d_out + k)
    rng = np.random.default_rng(batch)
    M = explicit_matrix(layer)
    x = rng.standard_normal((batch, d_in))
    dy = rng.standard_normal((batch, d_out))

    y = layer.forward(x)
    close(y, x @ M.T + (layer.params["b"] if bias else 0.0))
    dx = layer.backward(dy)
    close(dx, dy @ M)
    assert layer.grads["r"].shape == layer.params["r"].shape
    close(layer.grads["r"], explicit_dr(layer, x, dy))
    if bias:
        close(layer.grads["b"], dy.sum(0))
    else:
        assert "b" not in layer.grads and "b" not in layer.params
    if not sign_flip:
        assert np.all(layer.signs == 1)


@pytest.mark.parametrize("d_in,d_out,k", [s for s in SHAPES if s[0] * s[1] <= 150])
@pytest.mark.parametrize("batch", [1, 3])
@pytest.mark.parametrize("bias,sign_flip", [(True, True), (False, False)])
def test_gradcheck(d_in, d_out, k, batch, bias, sign_flip):
    layer = mc.BlockCirculant(d_in, d_out, k, bias=bias, sign_flip=sign_flip, rng=k)
    x = np.random.default_rng(batch).standard_normal((batch, d_in))
    errors = check_layer(layer, x, tol=1e-6)
    assert set(errors) == ({"dx", "dr", "db"} if bias else {"dx", "dr"})


def test_gradcheck_directional_on_an_mnist_sized_layer():
    layer = mc.BlockCirculant(784, 256, 64, rng=0)
    x = np.random.default_rng(0).standard_normal((4, 784))
    check_layer(layer, x, tol=1e-6, directional=True)


# -- the two ends of the family: k = 1 is Dense, k = n is Circulant --------------------------

@pytest.mark.parametrize("d_in,d_out", [(7, 5), (4, 9), (1, 1)])
@pytest.mark.parametrize("sign_flip", [True, False])
def test_block_1_is_dense(d_in, d_out, sign_flip):
    blk = make(d_in, d_out, 1, sign_flip=sign_flip, seed=4)
    dense = mc.Dense(d_in, d_out, dtype=np.float64)
    s = blk.signs[:d_in]
    dense.params["W"][...] = (blk.params["r"][:, :, 0] * s[None, :]).T     # W[j, i] = r[i, j, 0] s[j]
    dense.params["b"][...] = blk.params["b"]
    rng = np.random.default_rng(5)
    x, dy = rng.standard_normal((3, d_in)), rng.standard_normal((3, d_out))
    close(blk.forward(x), dense.forward(x))
    close(blk.backward(dy), dense.backward(dy))
    close(blk.grads["r"][:, :, 0], dense.grads["W"].T * s[None, :])    # dr[i, j, 0] = dW[j, i] s[j]
    close(blk.grads["b"], dense.grads["b"])


@pytest.mark.parametrize("n", [1, 6, 7, 16])
@pytest.mark.parametrize("sign_flip", [True, False])
def test_block_n_is_circulant(n, sign_flip):
    blk = make(n, n, n, sign_flip=sign_flip, seed=n)
    circ = mc.Circulant(n, sign_flip=sign_flip, dtype=np.float64)
    circ.params["r"][...] = blk.params["r"][0, 0]
    circ.params["b"][...] = blk.params["b"]
    circ.buffers["signs"][...] = blk.signs
    rng = np.random.default_rng(n)
    x, dy = rng.standard_normal((4, n)), rng.standard_normal((4, n))
    close(blk.forward(x), circ.forward(x))
    close(blk.backward(dy), circ.backward(dy))
    close(blk.grads["r"][0, 0], circ.grads["r"])
    close(blk.grads["b"], circ.grads["b"])


# -- precision, counts, signs ---------------------------------------------------------------

@pytest.mark.parametrize("d_in,d_out,k", [(784, 256, 64), (256, 256, 64), (10, 6, 4), (13, 9, 5)])
def test_float32_stays_float32_and_matches_float64(d_in, d_out, k):
    rng = np.random.default_rng(3)
    layer32 = mc.BlockCirculant(d_in, d_out, k, rng=7)
    layer64 = layer32.astype(np.float64)
    x = rng.standard_normal((4, d_in)).astype(np.float32)
    dy = rng.standard_normal((4, d_out)).astype(np.float32)
    y32, y64 = layer32.forward(x), layer64.forward(x.astype(np.float64))
    dx32, dx64 = layer32.backward(dy), layer64.backward(dy.astype(np.float64))
    assert layer32.params["r"].dtype == layer32.signs.dtype == np.float32
    assert y32.dtype == dx32.dtype == np.float32
    assert all(g.dtype == np.float32 for g in layer32.grads.values())
    assert all(c.dtype == np.complex64 for c in layer32.cache)     # spectra stay single precision
    for a, b in [(y32, y64), (dx32, dx64), (layer32.grads["r"], layer64.grads["r"])]:
        assert np.abs(a - b).max() <= 1e-5 * np.abs(b).max()


def test_float64_input_into_float32_layer_is_computed_in_float32():
    layer = mc.BlockCirculant(10, 6, 4, rng=0)
    assert layer.forward(np.ones((2, 10))).dtype == np.float32


def test_parameter_count_and_shapes():
    layer = mc.BlockCirculant(784, 1024, 64, rng=0)
    assert (layer.p, layer.q) == (16, 13)
    assert layer.params["r"].shape == (16, 13, 64) and layer.params["b"].shape == (1024,)
    assert layer.num_params() == 16 * 13 * 64 + 1024
    # about d_in d_out / k: the padding of 784 to 832 costs 6%
    assert 784 * 1024 / 64 <= layer.params["r"].size <= 1.07 * 784 * 1024 / 64
    assert mc.BlockCirculant(10, 6, 4, bias=False, rng=0).num_params() == 2 * 3 * 4
    assert mc.BlockCirculant(10, 6, 1, rng=0).num_params() == mc.Dense(10, 6).num_params()
    assert mc.BlockCirculant(8, 8, 8, rng=0).num_params() == mc.Circulant(8).num_params()
    assert set(mc.BlockCirculant(5, 5, 2, rng=0).params) == {"r", "b"}
    assert mc.BlockCirculant(1024, 10, 64, rng=0).forward(np.ones((2, 1024), np.float32)).shape == (2, 10)


def test_initialisation_keeps_the_second_moment():
    for k in (1, 16, 64):
        layer = mc.BlockCirculant(784, 1024, k, bias=False, rng=k, dtype=np.float64)
        x = np.random.default_rng(0).standard_normal((256, 784))
        assert 0.8 < np.mean(layer.forward(x) ** 2) < 1.25
    assert np.allclose(np.std(mc.BlockCirculant(784, 1024, 64, rng=0, gain=2.0).params["r"]),
                       np.sqrt(2 / 784), rtol=0.05)


def test_signs():
    layer = mc.BlockCirculant(10, 6, 4, rng=0)
    assert layer.signs.shape == (12,) and set(np.unique(layer.signs)) == {-1.0, 1.0}
    assert "signs" not in layer.params and layer.signs is layer.buffers["signs"]
    big = mc.BlockCirculant(1000, 64, 64, rng=0).signs
    assert big.shape == (1024,) and 400 < (big > 0).sum() < 624
    np.testing.assert_array_equal(mc.BlockCirculant(10, 6, 4, rng=0).signs, layer.signs)
    assert not np.array_equal(mc.BlockCirculant(1000, 64, 64, rng=1).signs, big)
    assert np.all(mc.BlockCirculant(10, 6, 4, sign_flip=False, rng=0).signs == 1)


def test_optimizers_never_touch_signs():
    model = mc.Sequential(mc.BlockCirculant(8, 6, 3, rng=0))
    s0 = model[0].signs.copy()
    x = np.random.default_rng(0).standard_normal((3, 8)).astype(np.float32)
    for opt in (mc.SGD(model, lr=0.1, momentum=0.9, weight_decay=0.1), mc.Adam(model, lr=0.1, weight_decay=0.1)):
        for _ in range(3):
            model.backward(model.forward(x))
            opt.step()
    np.testing.assert_array_equal(model[0].signs, s0)


def test_block_mlp_builds_and_checks():
    model = build_mlp({"kind": "block", "block": 8, "hidden": 24, "d_in": 20}, seed=0)
    assert isinstance(model[0], mc.BlockCirculant) and model[0].block == 8
    x = np.random.default_rng(0).standard_normal((3, 20))
    check_model(model, mc.SoftmaxCrossEntropy(), x, np.array([0, 3, 9]), directional=True)


# -- structure: one batched call per step, no loop over blocks ------------------------------

class CountingBackend(NumpyBackend):
    def __init__(self):
        super().__init__()
        self.calls = []

    def __getattribute__(self, name):
        attr = super().__getattribute__(name)
        if name in ("rfft", "irfft", "bmm_freq", "bmm_freq_conj_w", "bmm_freq_conj_x_sum",
                    "cmul", "cmul_conj", "cmul_conj_sum"):
            super().__getattribute__("calls").append(name)
        return attr


def test_one_batched_call_per_spectral_step():
    bk = CountingBackend()
    layer = mc.BlockCirculant(50, 40, 8, rng=0, backend=bk)
    layer.forward(np.ones((6, 50)))
    assert sorted(bk.calls) == ["bmm_freq", "irfft", "rfft", "rfft"]      # rfft(r), rfft(u)
    bk.calls.clear()
    layer.backward(np.ones((6, 40)))
    assert sorted(bk.calls) == ["bmm_freq_conj_w", "bmm_freq_conj_x_sum", "irfft", "irfft", "rfft"]


# -- the tests can fail: planted bugs in the primitives the layer relies on -----------------

class NoConjDX(NumpyBackend):
    def bmm_freq_conj_w(self, W, G):                   # forgets conj: R instead of R^H
        return np.einsum("ijf,bif->bjf", W, G)


class NoConjDR(NumpyBackend):
    def bmm_freq_conj_x_sum(self, X, G):               # forgets conj on the forward spectra
        return np.einsum("bjf,bif->ijf", X, G)


class SwappedBlocks(NumpyBackend):
    def bmm_freq_conj_w(self, W, G):                   # R[j, i] instead of R[i, j]^H (square only)
        return np.einsum("jif,bif->bjf", np.conj(W), G)


@pytest.mark.parametrize("bug,bad", [(NoConjDX, "dx"), (NoConjDR, "dr"), (SwappedBlocks, "dx")])
def test_planted_backward_bugs_are_caught(bug, bad):
    layer = mc.BlockCirculant(12, 12, 4, rng=0, backend=bug())
    x = np.random.default_rng(0).standard_normal((3, 12))
    with pytest.raises(GradientCheckError) as e:
        check_layer(layer, x)
    assert e.value.errors[bad] > 1e-3
    with pytest.raises(AssertionError):
        test_layer = make(12, 12, 4, backend=bug())
        M = explicit_matrix(test_layer)
        dy = np.random.default_rng(1).standard_normal((3, 12))
        test_layer.forward(x)
        close(test_layer.backward(dy), dy @ M)
        close(test_layer.grads["r"], explicit_dr(test_layer, x, dy))


# -- errors ----------------------------------------------------------------------------------

@pytest.mark.parametrize("args,what", [((0, 4, 2), "d_in"), ((4, -1, 2), "d_out"), ((4, 4, 0), "block"),
                                       ((4, 4, 2.0), "block"), ((4, 4, True), "block"),
                                       ((4.5, 4, 2), "d_in"), ((4, 4, None), "block")])
def test_bad_constructor_arguments(args, what):
    with pytest.raises(ValueError, match=f"BlockCirculant: {what} must be a positive integer"):
        mc.BlockCirculant(*args)


def test_bad_gain_and_dtype():
    with pytest.raises(ValueError, match="BlockCirculant: gain"):
        mc.BlockCirculant(4, 4, 2, gain=0.0)
    with pytest.raises(TypeError, match="BlockCirculant: dtype"):
        mc.BlockCirculant(4, 4, 2, dtype=np.int32)


def test_bad_input():
    layer = mc.BlockCirculant(10, 6, 4, rng=0)
    with pytest.raises(RuntimeError, match="backward.*before forward"):
        layer.backward(np.ones((2, 6)))
    with pytest.raises(ValueError, match=r"BlockCirculant\(10, 6, block=4\).*\(batch, 10\).*\(2, 9\)"):
        layer.forward(np.ones((2, 9)))
    with pytest.raises(ValueError, match="3-D"):
        layer.forward(np.ones((2, 10, 1)))
    with pytest.raises(ValueError, match="zero rows"):
        layer.forward(np.ones((0, 10)))
    with pytest.raises(TypeError, match="floating"):
        layer.forward(np.ones((2, 10), dtype=np.int64))
    with pytest.raises(NonFiniteError, match="NaN or Inf"):
        layer.forward(np.full((2, 10), np.nan))
    layer.forward(np.ones((2, 10)))
    with pytest.raises(ValueError, match=r"dy of shape \(2, 6\).*\(2, 5\)"):
        layer.backward(np.ones((2, 5)))


# -- other backends agree with the NumPy reference (skipped where a backend cannot run) ------

@pytest.mark.parametrize("name", [b for b in mc.BACKENDS if b != "numpy"])
def test_other_backends_match_numpy(name):
    try:
        bk = get_backend(name)
    except (ImportError, RuntimeError) as e:
        pytest.skip(f"backend {name!r} unavailable here: {e}")
    for d_in, d_out, k in [(20, 13, 8), (64, 64, 16)]:                # power-of-two k (own FFTs)
        ref = mc.BlockCirculant(d_in, d_out, k, rng=1, dtype=np.float64)
        other = mc.BlockCirculant(d_in, d_out, k, rng=1, dtype=np.float64, backend=bk)
        rng = np.random.default_rng(2)
        x, dy = rng.standard_normal((3, d_in)), rng.standard_normal((3, d_out))
        close(bk.to_numpy(other.forward(x)), ref.forward(x))
        close(bk.to_numpy(other.backward(dy)), ref.backward(dy))
        close(bk.to_numpy(other.grads["r"]), ref.grads["r"])


# -- the derivation quotes the code: every quoted line must still be in the layer -------------

def test_derivation_quotes_the_code():
    import pathlib
    import re

    root = pathlib.Path(__file__).resolve().parents[1]
    source = (root / "minicirc" / "layers" / "block_circulant.py").read_text()
    for doc in (root / "docs" / "derivation_block.md", root / "docs" / "derivation.md"):
        text = doc.read_text() if doc.exists() else ""
        if "## The block-circulant layer" in text:
            break
    else:
        pytest.skip("no block-circulant derivation in docs/")
    section = text.split("## The block-circulant layer", 1)[1].split("\n## ", 1)[0]
    table = section.split("### From equation to code", 1)[1].split("###", 1)[0]
    # a table of | eq. | where | `code` |: each quoted line is one code span
    quoted = [code for line in table.splitlines()
              for code in re.findall(r"`([^`]*(?:bk\.|self\.)[^`]*)`", line)]
    assert len(quoted) >= 9
    for q in quoted:
        assert q in source, f"docs quote a line that is no longer in the code: {q!r}"
