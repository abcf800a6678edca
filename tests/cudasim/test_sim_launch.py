"""The direct launch path of ``launch.py``, with stand-ins for CuPy arrays, Numba's dispatcher and
its driver (no GPU here): parameters built like Numba's, taken only after they match Numba's own,
and Numba's path whenever anything is off. The real thing runs in tests/test_gpu.py.
"""
import ctypes
import sys
import types

import numpy as np
import pytest

from minicirc.backends.cuda import launch as L

pytestmark = pytest.mark.cudasim


class FakeArray:
    """Just what ``kernel_params`` reads of a CuPy array, over a NumPy array's layout."""

    def __init__(self, a, ptr=0x7F0000001000):
        self._a = a
        self.shape, self.strides, self.size, self.itemsize = a.shape, a.strides, a.size, a.itemsize
        self.ndim, self.dtype, self.flags = a.ndim, a.dtype, a.flags
        self.data = types.SimpleNamespace(ptr=ptr)


def numba_params(a, ptr):
    """What Numba's ``_prepare_args`` makes of such an array (strides derived when C-contiguous)."""
    c = ctypes.c_ssize_t
    strides = np.empty(a.shape, a.dtype).strides if a.flags.c_contiguous else a.strides
    return ([ctypes.c_void_p(0), ctypes.c_void_p(0), c(a.size), c(a.itemsize), ctypes.c_void_p(ptr)]
            + [c(s) for s in a.shape] + [c(s) for s in strides])


@pytest.mark.parametrize("make", [
    lambda: np.zeros((3, 8), np.float32),
    lambda: np.zeros((3, 8), np.float64)[:, :5],                 # a cropped view
    lambda: np.asfortranarray(np.zeros((3, 4), np.float32)),
    lambda: np.zeros(6, np.float32)[None, :],                    # stride 0 on the new axis
    lambda: np.zeros((2, 3, 10), np.float32),
])
def test_kernel_params_match_numbas_layout(make):
    a = make()
    got = L.kernel_params((FakeArray(a, 4096), 7))
    want = numba_params(a, 4096) + [ctypes.c_int64(7)]
    assert L.same_params(got, want), ([p.value for p in got], [p.value for p in want])


def test_same_params_compares_types_and_values():
    c = ctypes.c_ssize_t
    assert L.same_params([c(1), ctypes.c_void_p(0)], [c(1), ctypes.c_void_p(None)])
    assert not L.same_params([c(1)], [c(2)])
    assert not L.same_params([c(1)], [ctypes.c_int32(1)])
    assert not L.same_params([c(1)], [c(1), c(1)])


def test_no_direct_params_for_floats_or_bools():
    for v in (1.5, True, np.float32(1)):
        with pytest.raises(TypeError):
            L.kernel_params((v,))


# -- the launch decision, with a fake dispatcher ----------------------------------------------
class FakeOverload:
    argument_types = ("arr", "int")
    cooperative = debug = False
    extensions = []

    def __init__(self, params_for):
        self.params_for = params_for
        self._codelibrary = types.SimpleNamespace(
            get_cufunc=lambda: types.SimpleNamespace(handle="cufunc-handle"))

    def _prepare_args(self, ty, val, stream, retr, out):
        out.extend(self.params_for(ty, val))


class FakeKernel:
    """``kernel[grid, block, stream, shmem](*args)`` records a dispatcher launch."""

    def __init__(self, params_for):
        self.py_func = types.SimpleNamespace(__name__="fake_kernel")
        self.calls = []
        self.overloads = {("arr", "int"): FakeOverload(params_for)}

    def typeof_pyval(self, v):
        return "int" if isinstance(v, int) else "arr"

    def __getitem__(self, config):
        return lambda *args: self.calls.append((config, args))


@pytest.fixture
def fake_gpu(monkeypatch):
    cupy = types.ModuleType("cupy")
    cupy.cuda = types.SimpleNamespace(runtime=types.SimpleNamespace(getDevice=lambda: 0),
                                      get_current_stream=lambda: types.SimpleNamespace(ptr=0))
    monkeypatch.setitem(sys.modules, "cupy", cupy)
    monkeypatch.setattr(L, "ENABLED", True)
    driver_calls = []
    monkeypatch.setattr(L, "_driver_launch_kernel",
                        lambda: lambda *a, **k: driver_calls.append((a, k)))
    L.reset()
    yield driver_calls
    L.reset()


def right(ty, val):
    return L.kernel_params((val,))            # Numba's parameters are exactly ours


def test_first_launch_goes_through_numba_then_direct(fake_gpu):
    k, a = FakeKernel(right), FakeArray(np.zeros((2, 4), np.float32))
    for _ in range(3):
        L.launch(k, (2, 1, 1), (32, 1, 1), 0, 0, a, 5)
    assert len(k.calls) == 1 and len(fake_gpu) == 2
    (args, kw), = fake_gpu[:1]
    assert args[:9] == ("cufunc-handle", 2, 1, 1, 32, 1, 1, 0, 0) and kw == {"cooperative": False}
    assert L.same_params(args[9], L.kernel_params((a, 5)))
    assert L.status()["direct"] == 2 and L.status()["dispatcher"] == 1 and not L.status()["off"]
    # another argument kind (float64 here) is verified on its own first launch
    L.launch(k, (1, 1, 1), (32, 1, 1), 0, 0, FakeArray(np.zeros((2, 4))), 5)
    assert len(k.calls) == 2


def test_a_mismatch_keeps_numbas_path(fake_gpu):
    def wrong(ty, val):
        p = L.kernel_params((val,))
        return p[:-1] + [ctypes.c_ssize_t(p[-1].value + 1)] if ty == "arr" else p
    k, a = FakeKernel(wrong), FakeArray(np.zeros((2, 4), np.float32))
    for _ in range(3):
        L.launch(k, (2, 1, 1), (32, 1, 1), 0, 0, a, 5)
    assert len(k.calls) == 3 and not fake_gpu
    assert any("differ" in why for why in L.status()["off"].values())


def test_a_failing_direct_launch_falls_back_for_good(fake_gpu, monkeypatch):
    def boom(*a, **k):
        raise RuntimeError("driver says no")
    monkeypatch.setattr(L, "_driver_launch_kernel", lambda: boom)
    k, a = FakeKernel(right), FakeArray(np.zeros((2, 4), np.float32))
    for _ in range(3):
        L.launch(k, (2, 1, 1), (32, 1, 1), 0, 0, a, 5)
    assert len(k.calls) == 3                  # first, then the failed direct one, then Numba's
    assert any("driver says no" in why for why in L.status()["off"].values())


def test_a_foreign_stream_is_not_launched_directly(fake_gpu):
    stream = types.SimpleNamespace(handle=types.SimpleNamespace(value=1234))   # CuPy's is 0
    k, a = FakeKernel(right), FakeArray(np.zeros((2, 4), np.float32))
    for _ in range(2):
        L.launch(k, (2, 1, 1), (32, 1, 1), stream, 0, a, 5)
    assert len(k.calls) == 2 and not fake_gpu


def test_off_switch_and_host_arrays_use_numba(fake_gpu, monkeypatch):
    k = FakeKernel(right)
    L.launch(k, (1, 1, 1), (32, 1, 1), 0, 0, np.zeros((2, 4), np.float32), 5)   # simulator arrays
    monkeypatch.setattr(L, "ENABLED", False)
    a = FakeArray(np.zeros((2, 4), np.float32))
    for _ in range(2):
        L.launch(k, (1, 1, 1), (32, 1, 1), 0, 0, a, 5)
    assert len(k.calls) == 3 and not fake_gpu
