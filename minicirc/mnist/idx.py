"""Reading and writing IDX files, the format MNIST ships in, plain or gzip-compressed.

An IDX file is a 4-byte magic number ``00 00 <type code> <ndim>``, then ``ndim`` big-endian
uint32 dimensions, then the data, big-endian, C order, with nothing after it.

Every problem with a file raises :class:`DataError` with a message that starts with the file's
path and says what is wrong, so that a user with a damaged download reads one line, not a
traceback from inside NumPy or gzip.
"""
from __future__ import annotations

import gzip
import math
import os
import zlib
from typing import Union

import numpy as np

PathLike = Union[str, "os.PathLike[str]"]

# type code -> big-endian dtype, as defined by LeCun's MNIST page
_DTYPES = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_CODES = {dt.newbyteorder("="): code for code, dt in _DTYPES.items()}
_GZIP_MAGIC = b"\x1f\x8b"


class DataError(ValueError):
    """A data file is missing, unreadable, malformed or fails its checksum."""


class DataFileNotFoundError(DataError, FileNotFoundError):
    """A data file does not exist; catchable as either ``DataError`` or ``FileNotFoundError``."""


def _read_bytes(path: PathLike) -> bytes:
    """Return the content of ``path``, decompressed if it is gzip (by magic, not by name)."""
    name = os.fspath(path)
    try:
        with open(name, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        raise DataFileNotFoundError(f"{name}: no such file") from None
    except OSError as e:
        raise DataError(f"{name}: cannot read: {e.strerror or e}") from None
    if not data:
        raise DataError(f"{name}: empty file")
    if data[:2] == _GZIP_MAGIC:
        try:
            data = gzip.decompress(data)
        except EOFError:
            raise DataError(f"{name}: truncated gzip stream (download cut short?)") from None
        except (OSError, zlib.error) as e:  # BadGzipFile is an OSError; CRC errors land here too
            raise DataError(f"{name}: corrupt gzip stream: {e}") from None
        if not data:
            raise DataError(f"{name}: empty after gzip decompression")
    return data


def _parse(data: bytes, name: str) -> np.ndarray:
    """Parse IDX ``data`` into an array in native byte order; ``name`` is used in errors.

    For single-byte types the result is a read-only view of ``data`` (no copy).
    """
    if len(data) < 4:
        raise DataError(f"{name}: too short for an IDX header ({len(data)} bytes, need at least 4)")
    zero0, zero1, code, ndim = data[:4]
    if zero0 != 0 or zero1 != 0:
        raise DataError(f"{name}: not an IDX file: magic bytes {data[:4].hex(' ')}, "
                        "expected 00 00 <type code> <ndim>")
    if code not in _DTYPES:
        known = ", ".join(f"0x{c:02X} {dt.name}" for c, dt in _DTYPES.items())
        raise DataError(f"{name}: unknown IDX type code 0x{code:02X} (known: {known})")
    if ndim < 1:
        raise DataError(f"{name}: IDX header declares 0 dimensions")
    offset = 4 + 4 * ndim
    if len(data) < offset:
        raise DataError(f"{name}: truncated header: {ndim} dimensions need {offset} bytes, "
                        f"file has {len(data)}")
    shape = tuple(int(d) for d in np.frombuffer(data, ">u4", count=ndim, offset=4))
    dtype = _DTYPES[code]
    expected = math.prod(shape) * dtype.itemsize  # Python ints: a bogus header cannot overflow
    found = len(data) - offset
    if found != expected:
        what = "truncated" if found < expected else f"{found - expected} trailing bytes"
        dims = "x".join(map(str, shape))
        raise DataError(f"{name}: {what}: header says {dims} {dtype.name} = {expected} bytes, "
                        f"found {found}")
    try:
        arr = np.frombuffer(data, dtype, offset=offset).reshape(shape)
    except ValueError as e:   # a damaged header whose sizes agree only because one is 0:
        # too many dimensions for NumPy, or the others multiply past what an array can index
        raise DataError(f"{name}: header declares a {ndim}-dimensional shape "
                        f"{'x'.join(map(str, shape))} that NumPy cannot hold ({e})") from None
    if dtype.itemsize > 1:
        arr = arr.astype(dtype.newbyteorder("="))
    return arr


def read_idx(path: PathLike) -> np.ndarray:
    """Read an IDX file, gzip-compressed or raw, into a writable array in native byte order.

    Raises :class:`DataError` (``DataFileNotFoundError`` for a missing file) naming the file
    and the problem.
    """
    arr = _parse(_read_bytes(path), os.fspath(path))
    # frombuffer over immutable bytes is read-only; a public reader should not hand that out
    return arr if arr.flags.writeable else arr.copy()


def write_idx(path: PathLike, array: np.ndarray) -> None:
    """Write ``array`` as an IDX file; gzip-compressed when the name ends in ``.gz``.

    Supported dtypes: uint8, int8, int16, int32, float32, float64; at least one dimension.
    """
    name = os.fspath(path)
    a = np.asarray(array)
    code = _CODES.get(a.dtype.newbyteorder("="))
    if code is None:
        raise ValueError(f"write_idx: {name}: dtype {a.dtype} has no IDX type code "
                         "(use uint8, int8, int16, int32, float32 or float64)")
    if a.ndim < 1 or a.ndim > 255:
        raise ValueError(f"write_idx: {name}: IDX needs 1 to 255 dimensions, got {a.ndim}")
    if any(d >= 2**32 for d in a.shape):
        raise ValueError(f"write_idx: {name}: dimension too large for IDX: {a.shape}")
    header = bytes([0, 0, code, a.ndim]) + np.asarray(a.shape, ">u4").tobytes()
    data = header + np.ascontiguousarray(a, _DTYPES[code]).tobytes()
    if name.endswith(".gz"):
        data = gzip.compress(data, mtime=0)  # mtime=0: same array, same bytes
    with open(name, "wb") as f:
        f.write(data)
