"""How the CUDA backend hands arrays to Numba's launch, with a stand-in for a CuPy array (no
GPU needed). tests/cudasim runs the kernels; tests/test_gpu.py checks on a GPU that a launch
does not wait for the device."""
import numpy as np

from minicirc.backends.cuda import kernels as K


class DeviceArray:
    """What Numba reads of a CuPy array: its CUDA array interface, naming CuPy's stream."""

    __cuda_array_interface__ = {"shape": (4,), "typestr": "<f4", "data": (1024, False), "version": 3,
                                "strides": None, "stream": 1}


def test_a_gpu_array_goes_to_numba_without_a_stream_wait(monkeypatch):
    # By default a consumer of the interface synchronises on the named stream: a host wait at
    # every launch. The kernels run on that same stream, so the view is taken with sync=False.
    seen = []
    monkeypatch.setattr(K.cuda, "as_cuda_array", lambda a, sync=True: seen.append((a, sync)) or "view")
    a = DeviceArray()
    assert K.kernel_arg(a) == "view" and seen == [(a, False)]


def test_host_arrays_and_scalars():
    x = np.arange(12.0).reshape(3, 4)
    xt = x.T
    assert K.kernel_arg(x) is x and K.kernel_arg(xt) is xt          # C or F order: as it is
    strided = x[:, ::2]
    got = K.kernel_arg(strided)
    assert got.flags.c_contiguous and np.array_equal(got, strided)
    assert K.kernel_arg(3) == 3 and K.kernel_arg(0.5) == 0.5


def test_one_array_module():
    from minicirc.backends import array_module
    from minicirc.backends.cuda import fft

    assert K.array_module is array_module and fft.array_module is array_module


def test_launch_configures_numba_and_passes_converted_arguments():
    calls = []

    class Kernel:
        def __getitem__(self, config):
            return lambda *args: calls.append((config, args))

    x = np.arange(12.0).reshape(3, 4)[:, ::2]
    K.launch(Kernel(), (2, 1, 1), (32, 1, 1), "stream", 64, x, 7)
    (config, (a, c)), = calls
    assert config == ((2, 1, 1), (32, 1, 1), "stream", 64)
    assert a.flags.c_contiguous and np.array_equal(a, x) and c == 7
