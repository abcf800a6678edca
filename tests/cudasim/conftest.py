"""Kernel tests under Numba's CUDA simulator; see tests/test_cudasim.py for how they run.

Every test here fails loudly rather than skipping when the simulator is off: a suite that
quietly runs nothing would look green.
"""
import numpy as np
import pytest


@pytest.fixture(autouse=True)
def _simulator_is_on():
    from numba import config

    assert config.ENABLE_CUDASIM, (
        "tests/cudasim must run with NUMBA_ENABLE_CUDASIM=1 set before Numba is imported "
        "(python -m pytest tests/test_cudasim.py does that)")


@pytest.fixture
def rng():
    return np.random.default_rng(20150211)
