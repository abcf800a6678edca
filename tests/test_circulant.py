"""The circulant layer against the explicit dense matrix circ(r) @ diag(signs), cropped."""
import numpy as np
import pytest
import scipy.linalg

import minicirc as mc

SHAPES = [(784, 1024), (1024, 10), (7, 5), (5, 7), (1, 1), (8, 8), (9, 9), (6, 11)]


def explicit_matrix(layer):
    """The d_out x d_in matrix the layer applies: crop(circ(r) diag(s)) with r the first column."""
    C = scipy.linalg.circulant(layer.params["r"]) @ np.diag(layer.signs)
    return C[: layer.d_out, : layer.d_in]


@pytest.mark.parametrize("d_in,d_out", SHAPES)
@pytest.mark.parametrize("batch", [1, 5])
@pytest.mark.parametrize("bias,sign_flip", [(True, True), (False, False), (True, False)])
def test_forward_and_gradients_equal_dense_matrix(d_in, d_out, batch, bias, sign_flip):
    rng = np.random.default_rng(d_in * 1000 + d_out + batch)
    layer = mc.Circulant(d_in, d_out, bias=bias, sign_flip=sign_flip, rng=rng, dtype=np.float64)
    if bias:
        layer.params["b"][...] = rng.standard_normal(d_out)
    M = explicit_matrix(layer)
    x = rng.standard_normal((batch, d_in))
    dy = rng.standard_normal((batch, d_out))

    y = layer.forward(x)
    b = layer.params["b"] if bias else 0.0
    np.testing.assert_allclose(y, x @ M.T + b, rtol=0, atol=1e-10 * max(1, np.abs(y).max()))

    dx = layer.backward(dy)
    np.testing.assert_allclose(dx, dy @ M, rtol=0, atol=1e-10 * max(1, np.abs(dx).max()))

    # dL/dr by brute force: y[b, i] = sum_j r[(i - j) mod n] s_j x[b, j], so
    # dL/dr[k] = sum_{b, i} dy[b, i] * (s x)[b, (i - k) mod n] over the padded vectors.
    n = layer.n
    u = np.zeros((batch, n)); u[:, :d_in] = x * layer.signs[:d_in]
    g = np.zeros((batch, n)); g[:, :d_out] = dy
    idx = (np.arange(n)[None, :] - np.arange(n)[:, None]) % n       # idx[k, i] = (i - k) mod n
    dr = np.einsum("bi,bki->k", g, u[:, idx])
    np.testing.assert_allclose(layer.grads["r"], dr, rtol=0, atol=1e-10 * max(1, np.abs(dr).max()))
    if bias:
        np.testing.assert_allclose(layer.grads["b"], dy.sum(0), rtol=1e-12, atol=1e-12)
    else:
        assert "b" not in layer.grads and "b" not in layer.params


@pytest.mark.parametrize("d_in,d_out", [(784, 1024), (1024, 10), (7, 5), (5, 7), (1, 1), (64, 64)])
def test_float32_stays_float32_and_matches_float64(d_in, d_out):
    rng = np.random.default_rng(3)
    layer32 = mc.Circulant(d_in, d_out, rng=7)
    layer64 = layer32.astype(np.float64)
    x = rng.standard_normal((4, d_in)).astype(np.float32)
    dy = rng.standard_normal((4, d_out)).astype(np.float32)
    y32, y64 = layer32.forward(x), layer64.forward(x.astype(np.float64))
    dx32, dx64 = layer32.backward(dy), layer64.backward(dy.astype(np.float64))
    assert y32.dtype == dx32.dtype == np.float32
    assert all(g.dtype == np.float32 for g in layer32.grads.values())
    for a, b in [(y32, y64), (dx32, dx64), (layer32.grads["r"], layer64.grads["r"])]:
        assert np.abs(a - b).max() <= 1e-5 * np.abs(b).max()


def test_parameter_count_and_signs():
    layer = mc.Circulant(1024, 1024, rng=0)
    assert layer.num_params() == 2048
    assert set(layer.params) == {"r", "b"}
    assert "signs" not in layer.params
    s = layer.signs
    assert s.shape == (1024,) and set(np.unique(s)) == {-1.0, 1.0}
    # about half of each sign (a fixed seed; binomial sd is 16)
    assert 400 < (s > 0).sum() < 624
    np.testing.assert_array_equal(mc.Circulant(1024, rng=0).signs, s)
    assert not np.array_equal(mc.Circulant(1024, rng=1).signs, s)
    assert np.all(mc.Circulant(16, sign_flip=False, rng=0).signs == 1)


def test_non_square_shapes():
    a = mc.Circulant(784, 1024, rng=0)
    assert a.n == 1024 and a.params["r"].shape == (1024,) and a.params["b"].shape == (1024,)
    b = mc.Circulant(1024, 10, rng=0)
    assert b.n == 1024 and b.params["b"].shape == (10,)
    assert b.forward(np.ones((2, 1024), np.float32)).shape == (2, 10)


def test_optimizers_never_touch_signs():
    model = mc.Sequential(mc.Circulant(8, rng=0))
    s0 = model[0].signs.copy()
    x = np.random.default_rng(0).standard_normal((3, 8)).astype(np.float32)
    for opt in (mc.SGD(model, lr=0.1, momentum=0.9, weight_decay=0.1), mc.Adam(model, lr=0.1, weight_decay=0.1)):
        for _ in range(3):
            model.backward(model.forward(x))
            opt.step()
    np.testing.assert_array_equal(model[0].signs, s0)
    assert all(not name.endswith("signs") for name, _ in model.named_parameters())


@pytest.mark.parametrize("n", [8, 9])
def test_rfft_adjoint_is_a_weighted_irfft_not_irfft(n):
    """derivation.md, "The real FFT": as a real-linear map, rfft^T(Y) = n irfft(c Y, n) with
    c = 1 at bin 0 (and n/2 for even n), 1/2 elsewhere -- and plain irfft is not it."""
    import scipy.fft

    rng = np.random.default_rng(n)
    m = n // 2 + 1
    F = scipy.fft.rfft(np.eye(n), axis=0)                 # (m, n): the map as a complex matrix
    F_real = np.vstack([F.real, F.imag])                  # (2m, n): the same map on R^(2m)
    Y = rng.standard_normal(m) + 1j * rng.standard_normal(m)
    adjoint = F_real.T @ np.concatenate([Y.real, Y.imag])
    c = np.full(m, 0.5)
    c[0] = 1.0
    if n % 2 == 0:
        c[-1] = 1.0
    np.testing.assert_allclose(n * scipy.fft.irfft(c * Y, n), adjoint, atol=1e-12)
    assert np.abs(scipy.fft.irfft(Y, n) - adjoint).max() > 0.1
