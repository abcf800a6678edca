"""Property tests: the circulant layers equal their explicit matrices at sizes hypothesis picks.

The parametrized tests in test_circulant.py and test_block_circulant.py pin chosen shapes;
here hypothesis draws them (any d_in, d_out, batch, block size, odd or even), on the NumPy
reference and on the numba backend with its kernels forced at every size. Derandomized, so a
CI run is repeatable; a failure prints the smallest shape that breaks.
"""
import numpy as np
import pytest
import scipy.linalg
from hypothesis import given, settings
from hypothesis import strategies as st

import minicirc as mc
from minicirc.backends import NumpyBackend
from minicirc.backends.numba_backend import NumbaBackend

BACKENDS = {"numpy": NumpyBackend(), "numba": NumbaBackend(kernel_min=0)}
SETTINGS = settings(max_examples=40, deadline=None, derandomize=True)
size = st.integers(1, 40)


def explicit(layer):
    """The layer's d_out x d_in matrix M (from r, signs and the block structure), and for each
    entry of M the index of the entry of r it holds (dr[t] collects dM over the entries holding t)."""
    r = np.asarray(layer.params["r"])
    blocks = r.reshape((1, 1) + r.shape) if r.ndim == 1 else r
    p, q, k = blocks.shape
    a, c = np.arange(p * k)[:, None], np.arange(q * k)[None, :]
    where = ((a // k) * q + c // k) * k + (a - c) % k          # flat index into blocks
    s = np.asarray(layer.signs)
    M = np.block([[scipy.linalg.circulant(blocks[i, j]) for j in range(q)] for i in range(p)]) * s
    return M[: layer.d_out, : layer.d_in], where[: layer.d_out, : layer.d_in], s[: layer.d_in]


def check(layer, x, dy):
    M, where, s = explicit(layer)
    b = np.asarray(layer.params["b"])
    np.testing.assert_allclose(layer.forward(x), x @ M.T + b, rtol=1e-10, atol=1e-10)
    dx = layer.backward(dy)
    np.testing.assert_allclose(dx, dy @ M, rtol=1e-10, atol=1e-10)
    dr = np.zeros(layer.params["r"].size)
    np.add.at(dr, where, (dy.T @ x) * s)                        # dL/dM = dy^T x, through M = C diag(s)
    np.testing.assert_allclose(layer.grads["r"].reshape(-1), dr, rtol=1e-9, atol=1e-10)
    np.testing.assert_allclose(layer.grads["b"], dy.sum(axis=0), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("backend", BACKENDS)
@SETTINGS
@given(d_in=size, d_out=size, batch=st.integers(1, 6), sign_flip=st.booleans(), seed=st.integers(0, 2**16))
def test_circulant_is_its_explicit_matrix(backend, d_in, d_out, batch, sign_flip, seed):
    rng = np.random.default_rng(seed)
    layer = mc.Circulant(d_in, d_out, sign_flip=sign_flip, rng=rng, dtype=np.float64, backend=BACKENDS[backend])
    layer.params["b"][...] = rng.standard_normal(d_out)
    check(layer, rng.standard_normal((batch, d_in)), rng.standard_normal((batch, d_out)))


@pytest.mark.parametrize("backend", BACKENDS)
@SETTINGS
@given(d_in=size, d_out=size, k=st.integers(1, 12), batch=st.integers(1, 6), seed=st.integers(0, 2**16))
def test_block_circulant_is_its_explicit_matrix(backend, d_in, d_out, k, batch, seed):
    rng = np.random.default_rng(seed)
    layer = mc.BlockCirculant(d_in, d_out, k, rng=rng, dtype=np.float64, backend=BACKENDS[backend])
    layer.params["b"][...] = rng.standard_normal(d_out)
    check(layer, rng.standard_normal((batch, d_in)), rng.standard_normal((batch, d_out)))
