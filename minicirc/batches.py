"""Mini-batches over epochs, reshuffled each epoch, resumable bit-exactly from a checkpoint."""
from __future__ import annotations

from typing import Any, Dict, Iterator, Tuple

import numpy as np

from ._args import check_flag, check_int, check_rng


class Batches:
    """Iterate over ``(X[idx], y[idx])`` mini-batches, one epoch per ``iter()``.

    A cursor over an endless sequence of epochs: each ``iter(batches)`` (or ``epoch()``)
    yields the rest of the current epoch, which is all of it unless an earlier iteration
    stopped early or ``set_state`` put the cursor mid-epoch. Epoch ``e`` uses a permutation
    drawn from one seeded ``numpy.random.Generator`` when the epoch starts; the last batch
    may be smaller than ``batch_size``. ``len()`` is the number of batches per epoch.

    Only the index array is NumPy: ``X`` and ``y`` can be anything indexed by a NumPy integer
    array along their first axis (NumPy, CuPy), and each batch is the copy that indexing makes.

    ``state()`` / ``set_state()`` save and restore the cursor as a JSON-able dict, so a run
    resumed from a checkpoint sees exactly the batches an uninterrupted run would have.
    """

    def __init__(self, X: Any, y: Any, batch_size: int, *, shuffle: bool = True,
                 seed: Any = 0) -> None:
        for name, a in (("X", X), ("y", y)):
            if not hasattr(a, "shape") or len(a.shape) == 0:
                raise TypeError(f"Batches: {name} must be an array with samples along its first axis "
                                f"(NumPy or CuPy), got {type(a).__name__}"
                                + (" of shape ()" if hasattr(a, "shape") else ""))
        n = X.shape[0]
        if y.shape[0] != n:
            raise ValueError(f"Batches: X has {n} samples but y has {y.shape[0]}")
        if n == 0:
            raise ValueError("Batches: no samples")
        self.X, self.y = X, y
        self.n, self.batch_size = int(n), check_int("Batches", "batch_size", batch_size)
        self.shuffle = check_flag("Batches", "shuffle", shuffle)
        self._rng = check_rng("Batches", seed, "seed")
        self._epoch = 0          # index of the current epoch
        self._pos = 0            # batches of it already handed out
        self._perm: Any = None   # its permutation, drawn when its first batch is asked for
        self._rng_state = self._rng.bit_generator.state  # before drawing self._perm
        self._token = object()   # identifies the one live iterator; see _iterate

    def __repr__(self) -> str:
        return (f"Batches({self.n} samples, batch_size={self.batch_size}, shuffle={self.shuffle}; "
                f"epoch {self._epoch}, {self._pos} of {len(self)} batches handed out)")

    def __len__(self) -> int:
        return -(-self.n // self.batch_size)

    @property
    def epoch_index(self) -> int:
        """Index (from 0) of the epoch the next batch belongs to."""
        return self._epoch + (self._pos >= len(self))

    def __iter__(self) -> Iterator[Tuple[Any, Any]]:
        return self._iterate()

    def epoch(self) -> Iterator[Tuple[Any, Any]]:
        """The rest of the current epoch; the same as ``iter(self)``."""
        return self._iterate()

    def _next_epoch(self) -> None:
        self._epoch += 1
        self._pos = 0
        self._perm = None

    def _iterate(self) -> Iterator[Tuple[Any, Any]]:
        if self._pos >= len(self):
            self._next_epoch()
        if self._perm is None:
            self._rng_state = self._rng.bit_generator.state
            self._perm = (self._rng.permutation(self.n) if self.shuffle
                          else np.arange(self.n))
        # Two iterators interleaving would each skip the other's batches: only the newest lives.
        token = self._token = object()
        while self._pos < len(self):
            if self._token is not token:
                raise RuntimeError("Batches: this iterator was superseded by a newer iter() "
                                   "or set_state(); start a new one")
            idx = self._perm[self._pos * self.batch_size:(self._pos + 1) * self.batch_size]
            # count the batch as consumed when handed out, so that a state() taken right after
            # training on it resumes with the next one
            self._pos += 1
            yield self.X[idx], self.y[idx]

    def state(self) -> Dict[str, Any]:
        """The cursor as a JSON-able dict: epoch, position (batches done) and generator state.

        ``rng`` is the generator's state before it drew this epoch's permutation, so that
        ``set_state`` redraws the same one. At the end of an epoch the state is that of the
        start of the next.
        """
        if self._pos >= len(self):
            epoch, pos, rng = self._epoch + 1, 0, self._rng.bit_generator.state
        else:
            epoch, pos = self._epoch, self._pos
            rng = self._rng_state if self._perm is not None else self._rng.bit_generator.state
        return {"epoch": epoch, "position": pos, "rng": rng, "n": self.n,
                "batch_size": self.batch_size, "shuffle": self.shuffle}

    def set_state(self, state: Dict[str, Any]) -> None:
        """Restore a cursor saved by :meth:`state` (also after a round trip through JSON)."""
        try:
            epoch, pos, rng = int(state["epoch"]), int(state["position"]), state["rng"]
            saved = (int(state["n"]), int(state["batch_size"]), bool(state["shuffle"]))
        except (KeyError, TypeError, ValueError) as e:
            raise ValueError(f"Batches.set_state: not a Batches state: {e!r}") from None
        if saved != (self.n, self.batch_size, self.shuffle):
            raise ValueError("Batches.set_state: the state is for n={}, batch_size={}, "
                             "shuffle={}, this is n={}, batch_size={}, shuffle={}; resuming "
                             "would give different batches".format(*saved, self.n,
                                                                    self.batch_size, self.shuffle))
        if epoch < 0 or not 0 <= pos < len(self):  # state() never saves pos == len
            raise ValueError(f"Batches.set_state: epoch {epoch}, position {pos} out of range "
                             f"({len(self)} batches per epoch)")
        self._rng.bit_generator.state = rng
        self._epoch, self._pos, self._perm = epoch, pos, None
        self._token = object()
