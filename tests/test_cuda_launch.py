"""The CUDA launch path's bookkeeping, with stand-ins for CuPy arrays, a Numba kernel and cuda.core.

No GPU needed: these check the routing (first call of each argument kind through Numba's
dispatcher, then the direct launch, or the dispatcher for good with the reason kept), that the
parameters handed to ``cuda.core.launch`` are Numba's own, and that a disagreement between
the two is caught. tests/test_gpu.py checks on a real GPU that the direct path engages.
"""
import numpy as np
import pytest

from minicirc.backends.cuda import launch as L


class DeviceArray:
    """A stand-in for a CuPy array: the attributes the launcher reads."""

    def __init__(self, host, ptr):
        self.shape, self.strides, self.size = host.shape, host.strides, host.size
        self.itemsize, self.ndim, self.dtype, self.flags = host.itemsize, host.ndim, host.dtype, host.flags
        self.data = type("MemoryPointer", (), {"ptr": ptr})()


class Compiled:
    """A stand-in for Numba's compiled kernel: ``_prepare_args`` flattens as numba-cuda 0.30 does."""

    debug = cooperative = False
    extensions = ()

    def __init__(self, nargs, twist=None):
        self.argument_types = ["array"] * nargs
        self.twist = twist
        self._codelibrary = type("Lib", (), {"get_cufunc": lambda _: type("F", (), {"kernel": "cufunc"})()})()

    def _prepare_args(self, ty, a, stream, retr, out):
        start = len(out)
        out += [0, 0, a.size, a.itemsize, a.data.ptr, *a.shape, *a.strides]
        if self.twist is not None:
            self.twist(out, start)


class Kernel:
    """A stand-in for a Numba dispatcher: ``kernel[config](*args)`` is recorded."""

    def __init__(self, compiled):
        self.compiled, self.calls = compiled, []
        self.overloads = {}

    def py_func(self):
        pass

    def compile(self, types):
        self.overloads[types] = self.compiled
        return self.compiled

    def typeof_pyval(self, a):
        return ("array", a.dtype.char, a.ndim) if hasattr(a, "dtype") and hasattr(a, "strides") else type(a)

    def __getitem__(self, config):
        def call(*args):
            self.calls.append(config)
            self.overloads[tuple(self.typeof_pyval(a) for a in args)] = self.compiled
        return call


class CoreAPI:
    def __init__(self):
        self.launched = []

    def launch(self, stream, config, kernel, *params):
        self.launched.append((stream, config, kernel, params))

    def api(self):
        return (self.launch, lambda **kw: ("config", tuple(sorted(kw.items()))), lambda s: ("core", s))


@pytest.fixture(autouse=True)
def own_registry(monkeypatch):
    """Each test gets an empty launch registry and leaves the real one untouched: the stand-in
    kernels here (some refused on purpose) must not reach tests/test_gpu.py, which asserts that
    every kind in the registry launches directly."""
    monkeypatch.setattr(L, "_DIRECT", {})


def arrays():
    a = np.zeros((4, 10), np.float32)
    return DeviceArray(a, 1000), DeviceArray(a[:, :7], 2000), DeviceArray(np.zeros(6, np.float32), 3000)


def test_flatten_is_numbas_parameter_order():
    x = DeviceArray(np.zeros((4, 10), np.float32)[:, :7], 2000)
    assert L.flatten(x) == [0, 0, 28, 4, 2000, 4, 7, 40, 4]    # meminfo parent size itemsize data shape strides


def test_first_call_compiles_through_numba_then_launches_directly():
    core, args = CoreAPI(), arrays()
    kernel = Kernel(Compiled(3))
    L.launch(kernel, (2, 1, 1), (256, 1, 1), "s", 0, *args, api=core.api())
    assert len(kernel.calls) == 1 and core.launched == []
    for _ in range(2):
        L.launch(kernel, (2, 1, 1), (256, 1, 1), "s", 0, *args, api=core.api())
    assert len(kernel.calls) == 1 and len(core.launched) == 2
    stream, config, cufunc, params = core.launched[-1]
    assert stream == ("core", "s") and cufunc == "cufunc"
    assert config == ("config", (("block", (256, 1, 1)), ("grid", (2, 1, 1)), ("shmem_size", 0)))
    assert list(params) == [p for a in args for p in L.flatten(a)]
    (d,) = L._DIRECT[id(kernel)][1].values()
    assert d.fallback is None and d.launches == 2


class Converting(Kernel):
    """A dispatcher that ran an overload compiled for other, compatible types."""

    def __getitem__(self, config):
        return lambda *args: self.calls.append(config)


def test_an_overload_reached_by_conversion_is_compiled_for_the_exact_types():
    core, args = CoreAPI(), arrays()
    kernel = Converting(Compiled(3))
    for _ in range(2):
        L.launch(kernel, (1, 1, 1), (32, 1, 1), 0, 0, *args, api=core.api())
    assert len(kernel.calls) == 1 and len(core.launched) == 1
    assert tuple(kernel.typeof_pyval(a) for a in args) in kernel.overloads


def test_a_new_kind_of_arguments_goes_through_numba_first():
    core, (a, b, c) = CoreAPI(), arrays()
    kernel = Kernel(Compiled(3))
    L.launch(kernel, (1, 1, 1), (32, 1, 1), 0, 0, a, a, c, api=core.api())
    L.launch(kernel, (1, 1, 1), (32, 1, 1), 0, 0, a, b, c, api=core.api())   # b is strided: a new kind
    assert len(kernel.calls) == 2 and core.launched == []


def test_parameters_that_differ_from_numbas_keep_the_dispatcher():
    def shifted_pointer(out, start):
        out[start + 4] += 16
    core, args = CoreAPI(), arrays()
    kernel = Kernel(Compiled(3, twist=shifted_pointer))
    for _ in range(3):
        L.launch(kernel, (1, 1, 1), (32, 1, 1), 0, 0, *args, api=core.api())
    assert len(kernel.calls) == 3 and core.launched == []
    (d,) = L._DIRECT[id(kernel)][1].values()
    assert "differ from Numba's: parameter 4" in d.fallback and d.launches == 0


def test_a_missing_api_keeps_the_dispatcher_and_says_why(monkeypatch):
    def no_cuda_core():
        raise ImportError("No module named 'cuda.core'")
    monkeypatch.setattr(L, "_cuda_core_api", no_cuda_core)
    kernel, args = Kernel(Compiled(3)), arrays()
    for _ in range(2):
        L.launch(kernel, (1, 1, 1), (32, 1, 1), 0, 0, *args)
    assert len(kernel.calls) == 2
    (d,) = L._DIRECT[id(kernel)][1].values()
    assert d.fallback == "ImportError: No module named 'cuda.core'"
    assert {"kernel": "py_func", "direct_launches": 0, "fallback": d.fallback}.items() <= \
        next(r for r in L.report() if r["fallback"] == d.fallback).items()


def test_a_refused_direct_launch_falls_back_to_the_dispatcher():
    core, args = CoreAPI(), arrays()

    def refuse(*a):
        raise TypeError("bad parameter")
    kernel = Kernel(Compiled(3))
    launch, config, stream = core.api()
    for _ in range(3):
        L.launch(kernel, (1, 1, 1), (32, 1, 1), 0, 0, *args, api=(refuse, config, stream))
    assert len(kernel.calls) == 3
    (d,) = L._DIRECT[id(kernel)][1].values()
    assert d.fallback == "direct launch failed: TypeError: bad parameter" and d.launches == 0


def test_an_error_that_numba_s_launch_raises_too_does_not_blame_the_direct_path():
    """A sticky CUDA error (left by an earlier kernel) fails every launch: it must surface,
    and the direct path must stay for the launches after it."""

    class StickyError(RuntimeError):
        pass

    class BrokenContext(Kernel):
        broken = False

        def __getitem__(self, config):
            if self.broken:
                raise StickyError("CUDA_ERROR_ILLEGAL_ADDRESS")
            return super().__getitem__(config)

    def fail(*params):
        raise StickyError("CUDA_ERROR_ILLEGAL_ADDRESS")

    core, args = CoreAPI(), arrays()
    kernel = BrokenContext(Compiled(3))
    L.launch(kernel, (1, 1, 1), (32, 1, 1), 0, 0, *args, api=core.api())   # Numba's first call
    (d,) = L._DIRECT[id(kernel)][1].values()
    d._launch, kernel.broken = fail, True
    with pytest.raises(StickyError):
        L.launch(kernel, (1, 1, 1), (32, 1, 1), 0, 0, *args, api=core.api())
    assert d.fallback is None
    d._launch, kernel.broken = core.launch, False                # the context is healthy again
    L.launch(kernel, (1, 1, 1), (32, 1, 1), 0, 0, *args, api=core.api())
    assert d.launches == 1 and len(core.launched) == 1


def test_extent_one_strides_are_not_compared():
    x = DeviceArray(np.zeros((1, 5), np.float32), 10)
    numba_params = [0, 0, 5, 4, 10, 1, 5, 20, 4]                 # Numba computed the unused stride
    assert L._same_parameters(L.flatten(x), numba_params, (x,)) is None
    numba_params[-1] = 8
    assert "parameter 8" in L._same_parameters(L.flatten(x), numba_params, (x,))
    assert "parameters from Numba" in L._same_parameters(L.flatten(x), numba_params[:-1], (x,))


def test_host_arrays_always_take_the_dispatcher():
    kernel = Kernel(Compiled(1))
    x = np.zeros((3, 4), np.float32)[:, :2]
    for _ in range(2):
        L.launch(kernel, (1, 1, 1), (32, 1, 1), 0, 0, x)
    assert len(kernel.calls) == 2 and id(kernel) not in L._DIRECT


if __name__ == "__main__":  # pragma: no cover
    pytest.main([__file__])


def test_an_argument_list_with_a_scalar_stays_with_the_dispatcher():
    """``flatten`` knows arrays only: a scalar argument (Numba passes it as a C int64) must
    never reach the direct path, nor break the launch. (The own FFT once passed its length.)"""
    kernel, core = Kernel(Compiled(2)), CoreAPI()
    a, _, b = arrays()
    for scalar in (8, np.int64(8), 0.5):
        for _ in range(3):
            L.launch(kernel, (1, 1, 1), (32, 1, 1), 0, 0, a, b, scalar, api=core.api())
    assert len(kernel.calls) == 9 and core.launched == []
    assert id(kernel) not in L._DIRECT

