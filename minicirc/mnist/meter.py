"""An epoch's training loss and accuracy, summed where the arrays live and read in batches."""
from __future__ import annotations

import math
from typing import Any, Dict, List, Optional, Tuple


class EpochMeter:
    """An epoch's loss and accuracy, kept on the backend's device until read.

    ``add`` keeps each step's loss and count of right answers as they are (0-d device arrays
    on a GPU: no synchronisation). ``read`` brings everything pending back in one transfer and
    adds it to the totals; it returns ``(value, step)`` of the first step whose loss is NaN or
    Inf (named exactly however late it is read), adding nothing from there on, else None.
    """

    def __init__(self, backend: Any, totals: Optional[Dict[str, Any]] = None) -> None:
        self.backend = backend
        self._pending: List[Any] = []               # (step, loss, right, batch size)
        self.total_loss, self.total_right, self.seen = 0.0, 0, 0
        if totals:                                  # an epoch resumed mid-way: what came before
            self.total_loss = float(totals["loss_sum"])
            self.total_right, self.seen = int(totals["right"]), int(totals["seen"])

    def totals(self) -> Dict[str, Any]:
        """What was read so far, as JSON for a checkpoint (``__init__`` takes it back)."""
        return {"loss_sum": self.total_loss, "right": self.total_right, "seen": self.seen}

    def add(self, step: int, loss: Any, right: Any, n: int) -> None:
        self._pending.append((step, loss, right, int(n)))

    def read(self) -> Optional[Tuple[float, int]]:
        if not self._pending:
            return None
        pending, self._pending = self._pending, []
        xp = self.backend.xp
        losses = self.backend.to_numpy(xp.stack([xp.asarray(p[1], dtype=xp.float64) for p in pending]))
        rights = self.backend.to_numpy(xp.stack([xp.asarray(p[2], dtype=xp.int64) for p in pending]))
        for (step, _, _, n), value, right in zip(pending, losses, rights):
            if not math.isfinite(value):
                return float(value), step
            self.total_loss += float(value) * n
            self.total_right += int(right)
            self.seen += n
        return None

    @property
    def loss(self) -> float:
        return self.total_loss / max(self.seen, 1)

    @property
    def error(self) -> float:
        return 1.0 - self.total_right / max(self.seen, 1)
