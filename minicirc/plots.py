"""Plots, with matplotlib's Agg backend (no display needed); imported only when plotting."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, List


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_curves(history: List[Dict[str, Any]], path: Path, title: str = "") -> Path:
    """Training loss and train/validation/test error against epoch."""
    plt = _pyplot()
    epochs = [r["epoch"] for r in history]
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 4))
    a.plot(epochs, [r["train_loss"] for r in history], marker="o")
    a.set_xlabel("epoch"); a.set_ylabel("training loss"); a.set_yscale("log"); a.grid(alpha=0.3)
    for key, label in (("train_error", "train"), ("val_error", "validation"), ("test_error", "test")):
        if key in history[0]:
            b.plot(epochs, [100 * r[key] for r in history], marker="o", label=label)
    b.set_xlabel("epoch"); b.set_ylabel("error (%)"); b.set_yscale("log"); b.grid(alpha=0.3); b.legend()
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return Path(path)
