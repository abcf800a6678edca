"""The Stockham FFT kernel against scipy.fft, forward and inverse, both precisions."""
import numpy as np
import pytest
import scipy.fft

from minicirc.backends.cuda.fft import StockhamFFT, check_n, max_n

pytestmark = pytest.mark.cudasim

RTOL = {np.float32: 1e-5, np.float64: 1e-12}
CDT = {np.float32: np.complex64, np.float64: np.complex128}
FFT = StockhamFFT()


def close(got, want, dtype):
    """Error relative to the largest entry: FFT rounding scales with the whole row."""
    scale = max(1.0, float(np.abs(want).max()))
    err = float(np.abs(got - want).max()) / scale
    assert err < RTOL[dtype] * 10, f"relative error {err:.2e}"


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n", [2, 4, 8, 16, 32, 64, 256])
def test_rfft_and_irfft_match_scipy(rng, dtype, n):
    # n=2 and 4 are the edge cases of the packing; 8, 32 take the radix-2 stage, 16, 64, 256 do not.
    x = rng.standard_normal((3, n)).astype(dtype)
    X = FFT.rfft(x, n)
    assert X.dtype == CDT[dtype] and X.shape == (3, n // 2 + 1)
    close(X, scipy.fft.rfft(x, n=n), dtype)
    S = (rng.standard_normal((3, n // 2 + 1)) + 1j * rng.standard_normal((3, n // 2 + 1))).astype(CDT[dtype])
    y = FFT.irfft(S, n)
    assert y.dtype == np.dtype(dtype) and y.shape == (3, n)
    # A random spectrum is not Hermitian at DC and Nyquist: both sides drop those imaginary parts.
    close(y, scipy.fft.irfft(S, n=n), dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_irfft_inverts_rfft(rng, dtype):
    x = rng.standard_normal((2, 64)).astype(dtype)
    close(FFT.irfft(FFT.rfft(x, 64), 64), x, dtype)


def test_pads_and_crops_like_scipy(rng):
    short = rng.standard_normal((2, 5))
    close(FFT.rfft(short, 16), scipy.fft.rfft(short, n=16), np.float64)
    long = rng.standard_normal((2, 20))
    close(FFT.rfft(long, 16), scipy.fft.rfft(long, n=16), np.float64)
    few_bins = FFT.rfft(rng.standard_normal((2, 16)), 16)[:, :5]
    close(FFT.irfft(few_bins, 16), scipy.fft.irfft(few_bins, n=16), np.float64)


def test_one_dimensional_and_strided_rows(rng):
    r = rng.standard_normal(32).astype(np.float32)
    X = FFT.rfft(r, 32)
    assert X.shape == (17,)
    close(X, scipy.fft.rfft(r), np.float32)
    close(FFT.irfft(X, 32), r, np.float32)
    x = rng.standard_normal((2, 40))
    close(FFT.rfft(x[:, ::2], 32), scipy.fft.rfft(x[:, ::2], n=32), np.float64)


def test_length_one(rng):
    x = rng.standard_normal((2, 1))
    close(FFT.rfft(x, 1), scipy.fft.rfft(x, n=1), np.float64)
    close(FFT.irfft(FFT.rfft(x, 1), 1), x, np.float64)


@pytest.mark.parametrize("n", [3, 6, 12, 1000])
def test_non_power_of_two_is_refused_by_name(n):
    with pytest.raises(ValueError, match=f"n={n} is not a power of two"):
        FFT.rfft(np.zeros((1, n)), n)
    with pytest.raises(ValueError, match=f"n={n} is not a power of two"):
        FFT.irfft(np.zeros((1, n // 2 + 1), np.complex64), n)


def test_limits():
    assert max_n(np.float32) == 8192 and max_n(np.complex64) == 8192
    assert max_n(np.float64) == 4096
    check_n(8192, np.float32)
    with pytest.raises(ValueError, match="n=16384 exceeds its limit of 8192 for float32"):
        check_n(16384, np.float32)
    with pytest.raises(ValueError, match="n=8192 exceeds its limit of 4096 for float64"):
        check_n(8192, np.float64)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dc_and_nyquist_of_a_real_row_are_exactly_real(rng, dtype):
    X = FFT.rfft(rng.standard_normal((2, 32)).astype(dtype), 32)
    assert np.all(X[:, 0].imag == 0) and np.all(X[:, -1].imag == 0)
