"""MNIST: the bundled copy (or any directory with the four standard files), checked and split.

``load_mnist()`` reads each file once: one decompression, whose bytes are both hashed for the
checksum and parsed, so verification costs a SHA-256 pass and nothing more.
"""
from __future__ import annotations

import hashlib
import numbers
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Tuple, Union

import numpy as np

from .idx import DataError, DataFileNotFoundError, _parse, _read_bytes

Split = Tuple[np.ndarray, np.ndarray]

BUNDLED = Path(__file__).resolve().parent / "data"

# SHA-256 of the decompressed files: the published checksums of the original distribution
SHA256 = {
    "train-images-idx3-ubyte": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    "train-labels-idx1-ubyte": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    "t10k-images-idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    "t10k-labels-idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
}


@dataclass(frozen=True)
class MNIST:
    """The splits, each ``(X, y)``: X float32 in [0, 1], shape (N, 784); y int64 in 0..9.

    ``val`` is None unless ``load_mnist(validation=...)`` held part of the training set out.
    """

    train: Split
    val: Optional[Split]
    test: Split


def _find(directory: Path, stem: str) -> Path:
    for name in (stem + ".gz", stem):
        p = directory / name
        if p.is_file():
            return p
    raise DataFileNotFoundError(f"{directory}: no {stem}.gz or {stem} (MNIST needs the four files "
                                f"{', '.join(SHA256)}, gzip-compressed or raw)")


def _load(path: Path, verify: Optional[bool]) -> np.ndarray:
    data = _read_bytes(path)
    stem = path.name[:-3] if path.name.endswith(".gz") else path.name
    if verify or (verify is None and stem in SHA256):
        expected = SHA256.get(stem)
        if expected is None:
            raise DataError(f"{path}: no known checksum for this file name; pass verify=False")
        actual = hashlib.sha256(data).hexdigest()
        if actual != expected:
            raise DataError(f"{path}: SHA-256 mismatch (damaged or not the original MNIST file): "
                            f"expected {expected}, got {actual}; pass verify=False to load "
                            "other data stored under the MNIST names, such as Fashion-MNIST")
    return _parse(data, str(path))


def _check(split: str, images: np.ndarray, labels: np.ndarray, ipath: Path, lpath: Path) -> None:
    if images.ndim != 3 or images.dtype != np.uint8:
        raise DataError(f"{ipath}: expected uint8 images of shape (N, rows, cols), "
                        f"got {images.dtype} {images.shape}")
    if labels.ndim != 1 or labels.dtype != np.uint8:
        raise DataError(f"{lpath}: expected uint8 labels of shape (N,), "
                        f"got {labels.dtype} {labels.shape}")
    if len(images) != len(labels):
        raise DataError(f"{split} set: {ipath} has {len(images)} images but {lpath} has "
                        f"{len(labels)} labels")
    if len(images) == 0:
        raise DataError(f"{ipath}: holds no images; the {split} set is empty")
    bad = np.flatnonzero(labels > 9)
    if bad.size:
        raise DataError(f"{lpath}: {bad.size} labels outside 0..9, the first {labels[bad[0]]} "
                        f"at index {bad[0]}")


def _xy(images: np.ndarray, labels: np.ndarray) -> Split:
    X = images.reshape(len(images), -1).astype(np.float32)
    X /= 255  # in place: one float32 allocation per split
    return X, labels.astype(np.int64)


def _n_validation(validation: Union[int, float], n: int) -> int:
    if isinstance(validation, bool) or not isinstance(validation, numbers.Real):
        raise ValueError("load_mnist: validation must be a count or a fraction, "
                         f"got {validation!r}")
    if isinstance(validation, numbers.Integral):
        k = int(validation)
    elif 0 <= validation < 1:
        k = int(round(float(validation) * n))
    else:
        raise ValueError("load_mnist: a fractional validation must lie in (0, 1), "
                         f"got {validation}")
    if not 0 <= k < n:
        raise ValueError(f"load_mnist: validation={validation} must leave 0 to {n - 1} of the "
                         f"{n} training samples out")
    if k == 0 and validation > 0:             # a fraction too small to hold out one sample
        raise ValueError(f"load_mnist: validation={validation} of {n} training samples holds out "
                         f"none; ask for at least {1 / n:.2g}, or for a count")
    return k


def load_mnist(path: Union[str, "os.PathLike[str]", None] = None, *,
               validation: Union[int, float] = 0, seed: int = 0,
               verify: Optional[bool] = None) -> MNIST:
    """Load MNIST from the bundled copy (``path=None``) or a directory of the four IDX files.

    ``path``: a directory holding ``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``,
    ``t10k-images-idx3-ubyte`` and ``t10k-labels-idx1-ubyte``, each gzip-compressed (``.gz``,
    preferred when both exist) or raw.
    ``validation``: a count, or a fraction in (0, 1), of training samples held out as ``val``,
    chosen by a permutation drawn from ``numpy.random.default_rng(seed)``; both parts keep the
    files' order.
    ``verify``: check the SHA-256 of each decompressed file against the original MNIST's.
    None verifies files that carry one of the four standard names, which is every file this
    function opens; pass False for other data under those names (Fashion-MNIST, test files).

    Raises :class:`DataError` naming the file and the problem.
    """
    directory = BUNDLED if path is None else Path(path)
    if not directory.is_dir():
        raise DataFileNotFoundError(f"{directory}: not a directory (load_mnist wants the folder "
                                    "that holds the four MNIST files)")
    raw = {}
    for split, prefix in (("train", "train"), ("test", "t10k")):
        ipath = _find(directory, f"{prefix}-images-idx3-ubyte")
        lpath = _find(directory, f"{prefix}-labels-idx1-ubyte")
        images, labels = _load(ipath, verify), _load(lpath, verify)
        _check(split, images, labels, ipath, lpath)
        raw[split] = images, labels

    images, labels = raw["train"]
    k = _n_validation(validation, len(images))
    test = _xy(*raw["test"])
    if k == 0:
        return MNIST(train=_xy(images, labels), val=None, test=test)
    # split the uint8 arrays, before conversion, so no float32 copy of the whole set is made
    perm = np.random.default_rng(seed).permutation(len(images))
    val_idx, train_idx = np.sort(perm[:k]), np.sort(perm[k:])
    return MNIST(train=_xy(images[train_idx], labels[train_idx]),
                 val=_xy(images[val_idx], labels[val_idx]), test=test)
