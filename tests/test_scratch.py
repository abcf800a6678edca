"""``irfft(..., overwrite=True)``: the layers hand over only temporaries they are done with.

On the GPU the leave spares cuFFT's complex-to-real transform a copy of its input, which the
transform then writes over. SciPy ignores it, so on the CPU a layer that gave up an array it
still needed (its forward cache, say) would pass every other test. Here a backend takes the
leave literally: it fills every array it was allowed to overwrite with NaN. The layers must
still match the plain NumPy backend exactly, forward and backward, over two steps (the second
forward reuses nothing of the first, the backward reads the forward's cache).
"""
import numpy as np
import pytest

from minicirc import BlockCirculant, Circulant
from minicirc.backends import NumpyBackend


class ScratchingBackend(NumpyBackend):
    """NumPy, except that an ``irfft`` allowed to overwrite its input leaves NaN there."""

    name = "scratching"

    def __init__(self) -> None:
        super().__init__()
        self.given = 0

    def irfft(self, A, n, *, overwrite=False):
        out = super().irfft(A, n, overwrite=overwrite)
        if overwrite:
            A[...] = np.nan
            self.given += 1
        return out


LAYERS = {
    "circulant 5->7": lambda bk: Circulant(5, 7, rng=0, dtype=np.float64, backend=bk),
    "circulant 8->8": lambda bk: Circulant(8, rng=0, dtype=np.float64, backend=bk),
    "block 10->6 k=4": lambda bk: BlockCirculant(10, 6, 4, rng=0, dtype=np.float64, backend=bk),
    "block 9->9 k=3": lambda bk: BlockCirculant(9, 9, 3, rng=0, dtype=np.float64, backend=bk),
}


@pytest.mark.parametrize("make", LAYERS.values(), ids=list(LAYERS))
def test_layers_give_irfft_only_their_temporaries(make):
    scratching = ScratchingBackend()
    ours, ref = make(scratching), make(NumpyBackend())
    rng = np.random.default_rng(1)
    for _ in range(2):
        x = rng.standard_normal((3, ours.d_in))
        dy = rng.standard_normal((3, ours.d_out))
        np.testing.assert_array_equal(ours.forward(x), ref.forward(x))
        np.testing.assert_array_equal(ours.backward(dy), ref.backward(dy))
        for name in ref.grads:
            np.testing.assert_array_equal(ours.grads[name], ref.grads[name], err_msg=name)
        assert np.isfinite(x).all() and np.isfinite(dy).all()      # the caller's arrays untouched
    # every inverse transform of a step is of a fresh product: forward 1, backward 2 (dr, dx)
    assert scratching.given == 2 * 3


def test_the_scratching_backend_would_catch_a_layer_that_gave_up_its_cache():
    """The check above can fail: a layer that lets irfft overwrite its cached spectrum."""

    class Careless(Circulant):
        def forward(self, x):
            y = super().forward(x)
            U, R = self.cache
            self.backend.irfft(U, self.n, overwrite=True)           # U is still needed
            return y

    ours = Careless(6, rng=0, dtype=np.float64, backend=ScratchingBackend())
    ref = Circulant(6, rng=0, dtype=np.float64)
    x, dy = np.ones((2, 6)), np.ones((2, 6))
    ours.forward(x), ref.forward(x)
    ours.backward(dy), ref.backward(dy)
    assert np.isnan(ours.grads["r"]).all() and not np.isnan(ref.grads["r"]).any()


def test_every_backend_accepts_the_leave_and_computes_the_same():
    from minicirc.backends import get_backend

    rng = np.random.default_rng(2)
    for n in (7, 8):
        A = rng.standard_normal((3, n // 2 + 1)) + 1j * rng.standard_normal((3, n // 2 + 1))
        want = NumpyBackend().irfft(A.copy(), n)
        for name in ("numpy", "numba"):
            got = get_backend(name).irfft(A.copy(), n, overwrite=True)
            np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12, err_msg=f"{name}, n={n}")
