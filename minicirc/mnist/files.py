"""Atomic writes: every file minicirc writes is either complete or absent.

``write_atomic(path, write)`` has ``write`` fill a hidden temporary in the target's folder,
flushes it to disk, then renames it over ``path`` (``os.replace``, atomic on POSIX): a crash,
a kill -9 or a full disk leaves the previous file (or none), never half of one. The
temporary's name, ``.<name>.<pid>.<random>.tmp``, says which process made it, so
``remove_stale_temporaries(folder)`` can delete those whose process is gone (a run killed
mid-write) and leave a live run's alone.
"""
from __future__ import annotations

import os
import re
import shutil
import time
import uuid
from pathlib import Path
from typing import IO, Callable, List, Union

#: ``.<target name>.<pid>.<32 hex digits>.tmp``: only files of exactly this form are ever removed.
_TEMPORARY = re.compile(r"\..+\.(\d+)\.[0-9a-f]{32}\.tmp")

#: A test hook, nothing else: ``NAME:SECONDS`` holds every write of a file called NAME for
#: SECONDS once its temporary is complete and before the rename, so that a test can kill or
#: interrupt the process inside that window deterministically rather than by luck.
PAUSE_VARIABLE = "MINICIRC_TEST_WRITE_PAUSE"


def temporary_for(path: Path) -> Path:
    return path.parent / f".{path.name}.{os.getpid()}.{uuid.uuid4().hex}.tmp"


def write_atomic(path: Union[str, Path], write: Callable[[IO[bytes]], None], what: str = "file") -> Path:
    """Write ``path`` through ``write(f)`` (a binary file object), all or nothing.

    An ``OSError`` names ``path`` (and ``what`` it is), not the hidden temporary. The file
    gets the mode the umask gives any new file: the temporary is opened with ``open(..., "x")``,
    not ``tempfile.mkstemp``, whose 0600 ``os.replace`` would hand on.
    """
    path = Path(path)
    tmp = temporary_for(path)
    try:
        with open(tmp, "xb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        _pause_for_tests(path)
        os.replace(tmp, path)
    except OSError as e:
        tmp.unlink(missing_ok=True)
        raise OSError(e.errno, f"cannot write {what} {path}: {e.strerror or e}") from e
    except BaseException:        # Ctrl-C included: no temporary left behind
        tmp.unlink(missing_ok=True)
        raise
    return path


def write_text(path: Union[str, Path], text: str, what: str = "file") -> Path:
    """``Path.write_text``, atomically (UTF-8)."""
    data = text.encode("utf-8")
    return write_atomic(path, lambda f: f.write(data), what)


def copy(source: Union[str, Path], path: Union[str, Path], what: str = "file") -> Path:
    """``shutil.copyfile``, atomically: ``path`` never holds part of ``source``."""
    def write(f: IO[bytes]) -> None:
        with open(source, "rb") as src:
            shutil.copyfileobj(src, f)
    return write_atomic(path, write, what)


def remove_stale_temporaries(folder: Union[str, Path]) -> List[Path]:
    """Delete the temporaries in ``folder`` left by a process that no longer runs; return them."""
    removed = []
    try:
        entries = list(Path(folder).iterdir())
    except OSError:
        return removed
    for p in entries:
        m = _TEMPORARY.fullmatch(p.name)
        if m and not _running(int(m.group(1))):
            try:
                p.unlink()
                removed.append(p)
            except OSError:      # gone already, or not ours to remove: leave it
                pass
    return removed


def _running(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):   # another user's process: alive
        return True
    return True


def _pause_for_tests(path: Path) -> None:
    name, _, seconds = os.environ.get(PAUSE_VARIABLE, "").rpartition(":")
    if name and name == path.name:
        try:
            time.sleep(float(seconds))
        except ValueError:           # malformed: a test hook must never break a real write
            pass
