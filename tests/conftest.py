"""Shared test configuration.

``tests/cudasim`` holds kernel tests for Numba's CUDA simulator, which is chosen when Numba is
first imported (``NUMBA_ENABLE_CUDASIM=1``). The main run imports Numba normally, so it must not
collect that folder itself: ``tests/test_cudasim.py`` runs it in a subprocess with the variable set.
"""
import os
import sys
from pathlib import Path

import numpy

# numba-cuda 0.30.4 registers an overload for numpy.row_stack when it first compiles a kernel,
# and NumPy 2.5 removed that alias of vstack: on such a machine every GPU kernel compile fails
# with AttributeError (seen on the H100 image, 2026-11-27). The alias keeps `pytest -m gpu`
# runnable there directly, as benchmarks/gpu_check.sh's sitecustomize does for its stages.
if not hasattr(numpy, "row_stack"):
    numpy.row_stack = numpy.vstack

SIMULATOR = os.environ.get("NUMBA_ENABLE_CUDASIM", "0") not in ("", "0")

collect_ignore = [] if SIMULATOR else ["cudasim"]

# The benchmarks are a folder of the repository (``python -m benchmarks.layer`` from its root),
# not part of the installed package: their tests find them here wherever pytest is started.
# Appended, so that an installed minicirc still comes before the checkout's.
ROOT = str(Path(__file__).resolve().parents[1])
if ROOT not in sys.path:
    sys.path.append(ROOT)
