"""The figures of the docs: one script makes them all, and every one is shown somewhere.

``python docs/figures/make_figures.py`` writes the PNGs committed in ``docs/figures``; its
``FIGURES`` table is the list. The script must run as a user runs it (no ``PYTHONPATH``) and
write every figure; the committed PNGs must be exactly that list (a figure dropped from the
script leaves no stale picture behind); and each must be linked from a document, so that none
is made and never shown.
"""
from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FIGURES_DIR = ROOT / "docs" / "figures"
SCRIPT = FIGURES_DIR / "make_figures.py"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def figure_names():
    spec = importlib.util.spec_from_file_location("make_figures", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return sorted(module.FIGURES)


def run_script(*args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    return subprocess.run([sys.executable, str(SCRIPT), *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)


def image_links(text: str):
    """Targets of markdown images ``![alt](path)`` and HTML ``<img src="path">``."""
    return re.findall(r"!\[[^\]]*\]\(([^)\s]+)\)", text) + re.findall(r"<img[^>]*\ssrc=\"([^\"]+)\"", text)


def test_the_script_writes_every_figure(tmp_path):
    proc = run_script("--out", str(tmp_path))
    assert proc.returncode == 0, f"make_figures.py failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}"
    names = figure_names()
    assert len(names) >= 6
    for name in names:
        path = tmp_path / name
        assert path.is_file(), f"make_figures.py did not write {name}"
        data = path.read_bytes()
        assert data.startswith(PNG_SIGNATURE) and len(data) > 5000, f"{name} is not a real PNG"
    assert sorted(p.name for p in tmp_path.iterdir()) == names


def test_the_script_refuses_an_unknown_figure(tmp_path):
    proc = run_script("--out", str(tmp_path), "no_such_figure.png")
    assert proc.returncode == 2
    assert "no figure named no_such_figure.png" in proc.stderr
    assert list(tmp_path.iterdir()) == []


def test_the_committed_figures_are_the_scripts():
    committed = sorted(p.name for p in FIGURES_DIR.glob("*.png"))
    assert committed == figure_names(), \
        "docs/figures holds other PNGs than make_figures.py makes; run python docs/figures/make_figures.py"


@pytest.mark.parametrize("name", figure_names())
def test_every_figure_is_linked_from_the_docs(name):
    linked = set()
    for doc in (ROOT / "docs").rglob("*.md"):
        for target in image_links(doc.read_text(encoding="utf-8")):
            linked.add((doc.parent / target).resolve())
    assert (FIGURES_DIR / name).resolve() in linked, f"no document shows docs/figures/{name}"


def test_the_derivation_shows_at_least_six_figures():
    text = (ROOT / "docs" / "derivation.md").read_text(encoding="utf-8")
    shown = {t for t in image_links(text) if t.startswith("figures/")}
    assert len(shown) >= 6, f"derivation.md shows {sorted(shown)}"
    for target in shown:
        assert (ROOT / "docs" / target).is_file(), f"derivation.md shows {target}, which does not exist"


def test_the_link_finder_sees_both_forms():
    text = '![a](figures/x.png) and <img src="figures/y.png" width="300"> but not [z](figures/z.png)'
    assert image_links(text) == ["figures/x.png", "figures/y.png"]
