"""Plots, with matplotlib's object API: imported only when plotting, and no global state.

A ``matplotlib.figure.Figure`` made directly (not through pyplot) renders with the Agg canvas
on ``savefig``, needs no display and no ``close``, and leaves the caller's pyplot backend and
figures alone (a notebook keeps its inline backend).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, List, Union


def figure(**kw: Any) -> Any:
    """A matplotlib ``Figure`` outside pyplot (``figsize=...`` and the like as keywords)."""
    from matplotlib.figure import Figure

    return Figure(**kw)


def plot_curves(history: List[Dict[str, Any]], path: Path, title: str = "") -> Path:
    """Training loss and train/validation/test error against epoch."""
    if not history:
        raise ValueError("plot_curves: the history has no epochs to plot")
    from matplotlib.ticker import MaxNLocator

    epochs = [r["epoch"] for r in history]
    fig = figure(figsize=(10, 4))
    a, b = fig.subplots(1, 2)
    a.plot(epochs, [r["train_loss"] for r in history], marker="o")
    a.set_xlabel("epoch"); a.set_ylabel("training loss"); a.set_yscale("log"); a.grid(alpha=0.3)
    for key, label in (("train_error", "train"), ("val_error", "validation"), ("test_error", "test")):
        if key in history[0]:
            b.plot(epochs, [100 * r[key] for r in history], marker="o", label=label)
    # symlog: logarithmic above 0.1%, linear below, so a training error of exactly 0 still shows
    b.set_xlabel("epoch"); b.set_ylabel("error (%)"); b.set_yscale("symlog", linthresh=0.1)
    b.grid(alpha=0.3); b.legend()
    for ax in (a, b):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))     # epochs are whole numbers
    fig.suptitle(title)
    fig.tight_layout()
    save(fig, path)
    return Path(path)


def save(fig: Any, path: Union[str, Path]) -> Path:
    """``fig.savefig`` atomically, in the format the suffix names (PNG without one)."""
    from .files import write_atomic

    fmt = Path(path).suffix[1:].lower() or "png"
    return write_atomic(path, lambda f: fig.savefig(f, dpi=100, format=fmt), "plot")
