"""The captured step's kernels compiled to PTX by Numba and NVVM, without a GPU.

The simulator runs kernels as Python, so it never types them; here each one is compiled for
sm_90 with the argument types its launcher passes, so a typing error (a uint64 meeting an
int64 and becoming float64, an untyped constant) fails before a GPU session. Skipped, saying
why, where NVVM is not installed.
"""
import re
from types import SimpleNamespace

import numba
import numpy as np
import pytest
from numba import cuda, types

CC = (9, 0)


def _why_no_nvvm():
    if numba.config.ENABLE_CUDASIM:
        return "NUMBA_ENABLE_CUDASIM is set: the simulator compiles nothing"
    try:
        cuda.compile_ptx(lambda a: None, "void(float32[::1])", cc=CC)
    except Exception as e:
        return f"NVVM cannot compile here ({type(e).__name__}: {str(e)[:120]})"
    return None


NO_NVVM = _why_no_nvvm()
pytestmark = pytest.mark.skipif(NO_NVVM is not None, reason=f"needs libNVVM: {NO_NVVM}")


@pytest.fixture(autouse=True)
def _no_driver_needed(monkeypatch):
    # A kernel's device functions are compiled for "the current device", which Numba asks the
    # driver for; without a GPU there is none, so it is told sm_90, the target of compile_ptx.
    import numba.cuda.dispatcher as dispatcher

    monkeypatch.setattr(dispatcher, "get_current_device", lambda: SimpleNamespace(compute_capability=CC),
                        raising=False)

i64, f64, u32, b1 = types.int64, types.float64, types.uint32, types.boolean


def C(t, nd):
    return types.Array(t, nd, "C")


def A(t, nd):
    return types.Array(t, nd, "A")


def ptx(kernel, *argtypes):
    code, _ = cuda.compile_ptx(kernel.py_func, types.void(*argtypes), cc=CC)
    assert ".entry" in code
    return code


def f64_instructions(code):
    return sorted(set(re.findall(r"\b\w+(?:\.\w+)*\.f64\b|%fd\d+", code)))


def test_philox_kernel_compiles():
    from minicirc.backends.cuda import philox

    code = ptx(philox.fill_words, C(u32, 1), i64, i64, i64, C(i64, 1))
    # the rounds are 32 x 32 -> 64-bit products: integer multiplies, no floating point at all
    assert "mul" in code and not f64_instructions(code)
    assert not re.search(r"\bcvt\.rn\.f", code), "a word went through floating point"


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_fused_kernels_compile(dtype):
    from minicirc.backends.cuda.fused import fused_kernels

    ft = numba.from_dtype(np.dtype(dtype))
    k = fused_kernels(dtype)
    pad = ptx(k.pad_flip, A(ft, 2), C(ft, 1), C(ft, 2))
    brd = ptx(k.bias_relu_dropout, A(ft, 2), C(ft, 1), b1, C(ft, 2), C(ft, 2), i64, i64, i64, C(i64, 1), i64, f64)
    back = ptx(k.relu_dropout_backward, A(ft, 2), C(ft, 2), C(ft, 2), C(ft, 1))
    ptx(k.adam_update, C(ft, 1), C(ft, 1), C(ft, 1), C(ft, 1), C(f64, 1), C(i64, 1), f64, f64, f64, f64, b1)
    ptx(k.sgd_update, C(ft, 1), C(ft, 1), C(ft, 1), C(f64, 1), f64, b1, f64)
    if dtype == np.float32:
        # typed constants: the elementwise float32 kernels stay in float32
        assert not f64_instructions(pad), f64_instructions(pad)
        assert not f64_instructions(back), f64_instructions(back)
        # only the scale (a float64 argument) is converted, once
        assert all(i.startswith(("cvt", "%fd", "mov", "ld.param")) for i in f64_instructions(brd)), f64_instructions(brd)


def test_schedule_kernels_compile():
    from minicirc.backends.cuda import scalars

    ptx(scalars._set_step, C(i64, 1), C(f64, 1), i64, i64, f64, i64, i64)
    ptx(scalars._tick, C(i64, 1), C(f64, 1), i64, f64, i64, i64)
