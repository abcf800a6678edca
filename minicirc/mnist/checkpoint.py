"""Checkpoints: one ``.npz`` of named arrays plus a JSON metadata string.

Arrays: ``param/<name>`` (every parameter), ``buffer/<name>`` (the circulant ``signs``),
``optim/<name>/<slot>`` (optimizer state) and ``optim/t`` (its step count). ``meta`` is a JSON string: format and minicirc
version, architecture, epoch, seed, and whatever the trainer adds (data iterator and
dropout generator states, history; ``schema.py`` checks those). Loaded with
``allow_pickle=False``; written atomically (``files.write_atomic``), so a crash during a save
leaves the previous checkpoint intact.
"""
from __future__ import annotations

import json
import math
import zipfile
import zlib
from pathlib import Path
from typing import Any, Dict, Tuple, Union

import numpy as np

from .. import __version__
from ..backends import array_module
from .files import write_atomic

FORMAT = "minicirc-checkpoint"
FORMAT_VERSION = 1


class CheckpointError(ValueError):
    """A checkpoint is missing, corrupt, truncated, or does not fit the model."""


def save_checkpoint(path: Union[str, Path], model: Any, meta: Dict[str, Any],
                    optimizer: Any = None) -> Path:
    """Write ``model`` (and ``optimizer``) state with ``meta`` atomically to ``path``."""
    path = Path(path)
    arrays: Dict[str, np.ndarray] = {}
    trained = {name for name, _ in model.named_parameters()}
    for name, a in model.state_dict().items():
        arrays[f"{'param' if name in trained else 'buffer'}/{name}"] = a
    if optimizer is not None:
        for key, v in optimizer.state_arrays().items():
            arrays[f"optim/{key}"] = v
    reserved = sorted({"format", "format_version"} & set(meta))
    if reserved:
        raise ValueError(f"save_checkpoint: meta keys {reserved} are reserved for the file format "
                         "(read_checkpoint would refuse the file); rename them")
    full_meta = {**meta, "format": FORMAT, "format_version": FORMAT_VERSION, "minicirc_version": __version__}
    try:
        text = json.dumps(full_meta)
    except (TypeError, ValueError) as e:
        raise TypeError(f"save_checkpoint: meta must hold only JSON values (numbers, strings, lists, "
                        f"dicts; convert NumPy scalars with float() or int()): {e}") from e
    arrays["meta"] = np.array(text)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, lambda f: np.savez(f, **arrays), "checkpoint")
    return path


def read_checkpoint(path: Union[str, Path]) -> Tuple[Dict[str, Any], Dict[str, np.ndarray]]:
    """Return ``(meta, arrays)``; every way a file can be bad raises ``CheckpointError``."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint file")
    # Look at the first bytes before NumPy does: handed a text file or an image, np.load
    # takes it for a pickle and answers with advice about allow_pickle, which misleads.
    try:
        with open(path, "rb") as f:
            head = f.read(8)
    except OSError as e:
        raise CheckpointError(f"{path}: cannot read the checkpoint ({e.strerror or e})") from None
    if not head:
        raise CheckpointError(f"{path}: empty file, not a minicirc checkpoint")
    if head.startswith(b"\x93NUMPY"):
        raise CheckpointError(f"{path}: a single NumPy array (.npy), not a minicirc checkpoint (.npz)")
    if not head.startswith(b"PK"):
        raise CheckpointError(f"{path}: not a minicirc checkpoint: a checkpoint is an .npz (zip) "
                              f"archive, and this file starts with {head!r}")
    try:
        arrays = _read_arrays(path)
    except CheckpointError:
        raise
    except (zipfile.BadZipFile, EOFError, OSError, ValueError, KeyError, NotImplementedError,
            zlib.error, MemoryError) as e:
        # NotImplementedError: zipfile's "That compression method is not supported", from a
        # damaged header byte
        raise CheckpointError(f"{path}: not a readable minicirc checkpoint (corrupt or truncated .npz: {e})") from None
    if "meta" not in arrays:
        raise CheckpointError(f"{path}: no 'meta' entry; not a minicirc checkpoint")
    try:
        meta = json.loads(str(arrays.pop("meta")))
    except json.JSONDecodeError as e:
        raise CheckpointError(f"{path}: metadata is not valid JSON ({e})") from None
    if not isinstance(meta, dict):
        kind = {list: "array", str: "string", bool: "boolean", type(None): "null"}.get(type(meta), "number")
        raise CheckpointError(f"{path}: not a minicirc checkpoint (its metadata is a JSON {kind}, not an object)")
    if meta.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not a minicirc checkpoint (format {meta.get('format')!r})")
    if meta.get("format_version") != FORMAT_VERSION:
        raise CheckpointError(f"{path}: checkpoint format version {meta.get('format_version')!r} "
                              f"(written by minicirc {meta.get('minicirc_version')}); this minicirc "
                              f"{__version__} reads version {FORMAT_VERSION}")
    return meta, arrays


#: Most bytes one compressed byte can inflate to (deflate's limit is about 1032).
_DEFLATE_RATIO = 1032


def _read_arrays(path: Path) -> Dict[str, np.ndarray]:
    """Every entry of the .npz, each array's header checked before NumPy allocates for it.

    ``np.load`` allocates what a header declares before reading the data: a damaged or
    hostile header declaring a terabyte would end in MemoryError (or a long wait), not an
    error naming the file. Here each declared size must be what the entry holds and what the
    file could hold, and no entry may hold Python objects.
    """
    fmt = np.lib.format
    size = path.stat().st_size
    arrays: Dict[str, np.ndarray] = {}
    with zipfile.ZipFile(path) as z:
        for info in z.infolist():
            name = info.filename[:-len(".npy")]
            if not info.filename.endswith(".npy"):
                raise CheckpointError(f"{path}: entry {info.filename!r} is not a NumPy array; not a minicirc checkpoint")
            if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
                raise CheckpointError(f"{path}: entry {info.filename!r} uses compression method "
                                      f"{info.compress_type}, which minicirc never writes")
            with z.open(info) as f:
                version = fmt.read_magic(f)
                header = {(1, 0): fmt.read_array_header_1_0, (2, 0): fmt.read_array_header_2_0}.get(version)
                if header is None:
                    raise CheckpointError(f"{path}: entry {name!r} is a .npy of format version {version}; "
                                          "minicirc writes 1.0")
                shape, _, dtype = header(f)
                if dtype.hasobject:
                    raise CheckpointError(f"{path}: entry {name!r} holds Python objects (a pickle); "
                                          "a checkpoint holds numbers only")
                declared = math.prod(shape) * dtype.itemsize
                stored = info.file_size - f.tell()
                ratio = 1 if info.compress_type == zipfile.ZIP_STORED else _DEFLATE_RATIO
                if declared != stored or declared > size * ratio:
                    raise CheckpointError(f"{path}: entry {name!r} declares a {dtype} array of shape {shape} "
                                          f"({declared:,} bytes) and holds {stored:,}; corrupt or truncated")
            with z.open(info) as f:
                arrays[name] = fmt.read_array(f, allow_pickle=False)
    return arrays


def load_into(model: Any, arrays: Dict[str, np.ndarray], path: Union[str, Path] = "checkpoint",
              optimizer: Any = None) -> None:
    """Copy parameters and buffers (and optimizer state) into an already built model.

    Every name and shape is checked first, so a checkpoint of another architecture is
    refused with the first difference named, and the model is left untouched.
    """
    targets = [("param", name, p) for name, p in model.named_parameters()]
    targets += [("buffer", name, b) for name, b in model.named_buffers()]
    expected = {f"{kind}/{name}" for kind, name, _ in targets}
    present = {k for k in arrays if k.startswith(("param/", "buffer/"))}
    if expected != present:
        missing, extra = sorted(expected - present), sorted(present - expected)
        raise CheckpointError(f"{path}: checkpoint does not fit this model (missing {missing[:5]}, "
                              f"unexpected {extra[:5]}); it is from another architecture")
    for kind, name, target in targets:
        a = arrays[f"{kind}/{name}"]
        if a.shape != tuple(target.shape):
            raise CheckpointError(f"{path}: {kind} {name!r} has shape {a.shape} in the checkpoint, "
                                  f"the model expects {tuple(target.shape)}")
        if not np.all(np.isfinite(a)):
            raise CheckpointError(f"{path}: {kind} {name!r} contains NaN or Inf")
    # load_state_dict checks every array before it copies any; the optimizer checks its
    # state before taking any of it: a refusal there puts the model back as it was.
    backup = model.state_dict() if optimizer is not None else None
    try:
        model.load_state_dict({name: arrays[f"{kind}/{name}"] for kind, name, _ in targets})
    except ValueError as e:
        raise CheckpointError(f"{path}: {e}") from None
    if optimizer is not None:
        xp = array_module(targets[0][2]) if targets else np
        try:
            optimizer.load_state_arrays({k[len("optim/"):]: v for k, v in arrays.items()
                                         if k.startswith("optim/")}, asarray=xp.asarray)
        except ValueError as e:
            model.load_state_dict(backup)
            raise CheckpointError(f"{path}: optimizer state: {e}") from None
