"""The engine stands apart from the MNIST application and from the benchmarks.

The engine is ``minicirc`` less ``minicirc.mnist`` (and ``minicirc.__main__``, the command's
entry point): layers, backends, losses, optimizers, gradcheck, batches and the training loop.
A user who trains their own model on their own data imports the engine alone; if an engine
module imported the application, that user would pay for MNIST's data loading, settings and
command line, and the engine could not be read, or moved, without them.
"""
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

#: Every engine module: what ``import minicirc.<name>`` must never pull the application in with.
ENGINE = sorted(m.name for m in pkgutil.walk_packages([str(ROOT / "minicirc")], "minicirc.")
                if not m.name.startswith(("minicirc.mnist", "minicirc.__main__"))
                and not m.name.startswith("minicirc.backends.cuda"))


def imported_after(code: str) -> set:
    """The module names a fresh interpreter holds after running ``code``."""
    probe = f"{code}\nimport sys\nprint('\\n'.join(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT, check=True)
    return set(out.stdout.split())


def test_the_engine_list_is_the_engine():
    """The walk finds the engine's modules (a broken walk would make the test below vacuous)."""
    for name in ("minicirc.layers.dense", "minicirc.backends.numpy_backend", "minicirc.optim.adam",
                 "minicirc.gradcheck", "minicirc.loop", "minicirc.batches", "minicirc.losses"):
        assert name in ENGINE
    assert not [m for m in ENGINE if "mnist" in m]


def test_importing_and_using_the_engine_imports_no_application_or_benchmark_module():
    code = "\n".join(f"import {m}" for m in ENGINE) + "\n" + (
        "import numpy as np, minicirc as mc\n"
        "x = np.random.default_rng(0).standard_normal((16, 8)); y = np.arange(16) % 2\n"
        "model = mc.Sequential(mc.Dense(8, 4, rng=0), mc.ReLU(), mc.Dense(4, 2, rng=1))\n"
        "mc.fit(model, mc.SoftmaxCrossEntropy(), mc.AdamW(model, lr=1e-2), x, y, epochs=1, batch_size=4, progress=False)\n"
        "mc.gradcheck.check_model(model, mc.SoftmaxCrossEntropy(), x[:3], y[:3])\n")
    loaded = imported_after(code)
    leaked = sorted(m for m in loaded if m.startswith(("minicirc.mnist", "benchmarks", "torch", "matplotlib")))
    assert leaked == [], f"the engine imported {leaked}"
    assert "minicirc.layers.dense" in loaded and "minicirc.loop" in loaded   # the probe really ran


@pytest.mark.parametrize("module", ["minicirc.mnist.train", "minicirc.mnist.cli"])
def test_the_probe_sees_an_application_import(module):
    """The same probe does see the application when it is imported: the test above can fail."""
    assert module in imported_after(f"import {module}")
