"""Shared test configuration.

``tests/cudasim`` holds kernel tests for Numba's CUDA simulator, which is chosen when Numba is
first imported (``NUMBA_ENABLE_CUDASIM=1``). The main run imports Numba normally, so it must not
collect that folder itself: ``tests/test_cudasim.py`` runs it in a subprocess with the variable set.
"""
import os

SIMULATOR = os.environ.get("NUMBA_ENABLE_CUDASIM", "0") not in ("", "0")

collect_ignore = [] if SIMULATOR else ["cudasim"]
