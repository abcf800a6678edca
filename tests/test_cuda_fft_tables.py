"""The own FFT's twiddle tables on a GPU, with a stand-in for CuPy (no GPU needed).

A table is uploaded asynchronously on the current stream and then shared by every stream, so
the backend waits for the upload once, when it builds the table, and never again.
"""
from types import SimpleNamespace

import numpy as np

from minicirc.backends.cuda.fft import StockhamFFT


class Stream:
    def __init__(self):
        self.waits = 0

    def synchronize(self):
        self.waits += 1


def fake_cupy(stream):
    return SimpleNamespace(__name__="cupy", asarray=np.asarray,
                           cuda=SimpleNamespace(get_current_stream=lambda: stream))


def test_a_table_is_waited_for_once_when_built():
    stream, fft = Stream(), StockhamFFT()
    xp = fake_cupy(stream)
    cos, sin = fft.twiddles(xp, 16, np.float32)
    assert stream.waits == 1 and cos.dtype == np.float32
    assert np.allclose(cos + 1j * sin, np.exp(-2j * np.pi * np.arange(16) / 16), atol=1e-6)
    fft.twiddles(xp, 16, np.float32)                      # cached: no second wait
    fft.twiddles(fake_cupy(Stream()), 16, np.float32)     # another stream reads the same table
    assert stream.waits == 1
    fft.twiddles(xp, 16, np.float64)                      # a new table: one more wait
    assert stream.waits == 2


def test_host_tables_never_wait():
    assert StockhamFFT().twiddles(np, 8, np.float64)[0].shape == (8,)
