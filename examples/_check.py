"""The table every example prints, and the exit status that fails when any row fails.

One row per check::

    | step | value | brute force | max diff | tol | verdict |

``max diff`` is ``max |value - brute force|`` for an exact identity, or minicirc's
``rel_error`` for a finite-difference comparison (the step name says which). A row for a
measured claim (an inequality, not an identity) has ``-`` in ``max diff`` and ``tol``.
tests/test_examples.py parses these rows, so keep the format.

Importing this module also puts the repository root first on ``sys.path`` when the examples
sit in a clone (``python examples/NAME.py`` only puts ``examples/`` there), so that the
examples run against this checkout of minicirc whether or not it is installed.
"""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

_ROOT = Path(__file__).resolve().parent.parent
if (_ROOT / "minicirc" / "__init__.py").is_file() and str(_ROOT) not in sys.path:
    sys.path.insert(0, str(_ROOT))

import numpy as np  # noqa: E402

from minicirc.gradcheck import rel_error  # noqa: E402

WIDTHS = (46, 20, 20, 9, 7, 7)


def summary(a: Any) -> str:
    """A scalar as itself, an array as its shape and norm: enough to see two columns agree."""
    a = np.asarray(a)
    if a.ndim == 0:
        return f"{a.item():.6g}" if np.isrealobj(a) else f"{complex(a):.4g}"
    return f"{a.shape} norm {np.linalg.norm(a):.6g}"


class Checks:
    def __init__(self, title: str) -> None:
        self.failed = 0
        self.rows = 0
        print(title)
        print()
        self._print("step", "value", "brute force", "max diff", "tol", "verdict")
        self._print(*("-" * w for w in WIDTHS))

    def _print(self, *cells: str) -> None:
        for c in cells:
            assert "|" not in c, f"a table cell may not contain '|': {c!r}"
        print("| " + " | ".join(f"{c:<{w}}" for c, w in zip(cells, WIDTHS)) + " |")

    def section(self, title: str) -> None:
        """A line of text between rows (not a row: it has no verdict)."""
        print(f"  {title}")

    def _row(self, step: str, value: str, ref: str, diff: str, tol: str, ok: bool) -> bool:
        self.rows += 1
        self.failed += not ok
        self._print(step, value, ref, diff, tol, "ok" if ok else "FAIL")
        return ok

    def exact(self, step: str, value: Any, ref: Any, tol: float = 1e-10) -> bool:
        """An identity: ``max |value - ref| <= tol``."""
        value, ref = np.asarray(value), np.asarray(ref)
        if value.shape != ref.shape:
            return self._row(step, summary(value), summary(ref), "shape", f"{tol:.0e}", False)
        diff = float(np.max(np.abs(value - ref))) if value.size else 0.0
        return self._row(step, summary(value), summary(ref), f"{diff:.1e}", f"{tol:.0e}", diff <= tol)

    def close(self, step: str, value: Any, ref: Any, tol: float = 1e-6) -> bool:
        """A finite-difference comparison: ``rel_error(value, ref) <= tol``."""
        value, ref = np.asarray(value), np.asarray(ref)
        if value.shape != ref.shape:
            return self._row(step, summary(value), summary(ref), "shape", f"{tol:.0e}", False)
        err = rel_error(value, ref)
        return self._row(step, summary(value), summary(ref), f"{err:.1e}", f"{tol:.0e}", err <= tol)

    def bound(self, step: str, err: float, tol: float, value: str = "-", ref: str = "-") -> bool:
        """An error computed elsewhere (e.g. a ``check_layer`` table entry): ``err <= tol``."""
        return self._row(step, value, ref, f"{err:.1e}", f"{tol:.0e}", err <= tol)

    def claim(self, step: str, measured: str, expected: str, ok: bool) -> bool:
        """A measured statement, e.g. ``measured 0.98`` against ``expected > 0.9``."""
        return self._row(step, measured, expected, "-", "-", bool(ok))

    def done(self) -> None:
        print()
        if self.failed:
            print(f"{self.failed} of {self.rows} checks FAILED")
            sys.exit(1)
        print(f"all {self.rows} checks agree")
