"""Philox4x32-10, the counter-based generator of Salmon et al. (SC 2011, "Parallel random
numbers: as easy as 1, 2, 3"), as Numba device code and as a vectorised NumPy reference.

A counter ``c = (c0, c1, c2, c3)`` and a key ``k = (k0, k1)`` of 32-bit words map to four
32-bit words by ten rounds; no state is carried from one call to the next, so any element of
any stream is computed where it is needed, on the host or in any GPU thread, and a resumed
run draws exactly what the uninterrupted one did. One round, with ``hi``/``lo`` the halves of
a 64-bit product::

    (c0, c1, c2, c3) <- (hi(M1 c2) ^ c1 ^ k0,  lo(M1 c2),  hi(M0 c0) ^ c3 ^ k1,  lo(M0 c0))

and the key is bumped by ``(W0, W1)`` (mod 2^32) before every round but the first.

Every word is held in a uint64 and masked to 32 bits after each addition: products of two
32-bit words and sums of two never overflow 64 bits, so the same arithmetic is exact in
NumPy, in the CUDA simulator (NumPy scalars) and on a GPU, with no wrap-around to rely on.

**Dropout masks.** A mask is keyed by ``(seed, step, layer)`` and indexed by the element's
flat index ``i`` (row-major over the activation): the key is the seed's two 32-bit halves,
the counter is ``(i // 4, layer, step mod 2^32, step // 2^32)``, and element ``i`` takes word
``i % 4`` of that block (so one Philox call serves four elements). A word ``w`` becomes the
uniform ``u = (w >> 8) 2^-24`` in [0, 1) (24 bits: exact in float32), and the element is kept
iff ``u >= p``, i.e. iff ``(w >> 8) >= keep_threshold(p) = ceil(p 2^24)``: an integer
comparison, so host and device make the same decision from the same bits. The keep rate is
``1 - keep_threshold(p) / 2^24``, within 2^-24 of ``1 - p``.
"""
from __future__ import annotations

import math
from typing import Any, Tuple

import numba
import numpy as np
from numba import cuda

#: The round multipliers and the key increments (the golden ratio and sqrt(3) - 1, as 32-bit fractions).
M0, M1 = 0xD2511F53, 0xCD9E8D57
W0, W1 = 0x9E3779B9, 0xBB67AE85
ROUNDS = 10
#: Elements per Philox call: the four output words.
WORDS = 4
#: Bits of a word that make the uniform.
UNIFORM_BITS = 24

# uint64 constants: Numba types a NumPy scalar global by its dtype, so no operation below
# meets a signed integer (uint64 with int64 would promote to float64).
_M0, _M1, _W0, _W1 = (np.uint64(v) for v in (M0, M1, W0, W1))
_MASK = np.uint64(0xFFFFFFFF)
_HI = np.uint64(32)
_DROP = np.uint64(32 - UNIFORM_BITS)


@cuda.jit(device=True)
def philox4x32_10(c0, c1, c2, c3, k0, k1):
    """The four output words for counter ``(c0..c3)`` and key ``(k0, k1)``, uint64 words < 2^32."""
    for r in range(ROUNDS):
        if r > 0:
            k0 = (k0 + _W0) & _MASK
            k1 = (k1 + _W1) & _MASK
        p0 = _M0 * c0
        p1 = _M1 * c2
        c0, c1, c2, c3 = (p1 >> _HI) ^ c1 ^ k0, p1 & _MASK, (p0 >> _HI) ^ c3 ^ k1, p0 & _MASK
    return c0, c1, c2, c3


@cuda.jit(device=True)
def mask_block(seed_lo, seed_hi, layer, step, block):
    """The four words of dropout block ``block`` (elements ``4 block .. 4 block + 3``)."""
    u = numba.uint64
    return philox4x32_10(u(block) & _MASK, u(layer) & _MASK, u(step) & _MASK, u(step) >> _HI,
                         u(seed_lo), u(seed_hi))


@cuda.jit(device=True)
def kept(word, threshold):
    """Whether the element with Philox word ``word`` survives: ``(word >> 8) >= threshold``."""
    return (word >> _DROP) >= numba.uint64(threshold)


@cuda.jit
def fill_words(out, seed_lo, seed_hi, layer, step):
    """``out[i]`` = the dropout word of element ``i`` for ``(seed, step[0], layer)``; one thread per block of four."""
    j = cuda.grid(1)
    i = WORDS * j
    if i < out.shape[0]:
        w0, w1, w2, w3 = mask_block(seed_lo, seed_hi, layer, step[0], j)
        out[i] = w0
        if i + 1 < out.shape[0]:
            out[i + 1] = w1
        if i + 2 < out.shape[0]:
            out[i + 2] = w2
        if i + 3 < out.shape[0]:
            out[i + 3] = w3


# -- host side -------------------------------------------------------------------------------

def split_seed(seed: int) -> Tuple[int, int]:
    """The key words ``(seed mod 2^32, seed // 2^32)`` of a seed in [0, 2^64)."""
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer)) or not 0 <= seed < 2**64:
        raise ValueError(f"philox: seed must be an integer in [0, 2**64), got {seed!r}")
    seed = int(seed)
    return seed & 0xFFFFFFFF, seed >> 32


def check_layer(layer: int) -> int:
    if isinstance(layer, (bool, np.bool_)) or not isinstance(layer, (int, np.integer)) or not 0 <= layer < 2**32:
        raise ValueError(f"philox: layer id must be an integer in [0, 2**32), got {layer!r}")
    return int(layer)


def check_step(step: int) -> int:
    if isinstance(step, (bool, np.bool_)) or not isinstance(step, (int, np.integer)) or not 0 <= step < 2**63:
        raise ValueError(f"philox: step must be an integer in [0, 2**63), got {step!r}")
    return int(step)


def keep_threshold(p: float) -> int:
    """``ceil(p 2^24)``: keep iff ``(word >> 8) >=`` this, i.e. iff ``(word >> 8) 2^-24 >= p``.

    ``p 2^24`` is exact in float64 (a power-of-two scaling), so the ceiling is the exact
    integer bound and the comparison on 24-bit integers decides what ``u >= p`` would.
    """
    if isinstance(p, bool) or not isinstance(p, (int, float, np.floating, np.integer)) or not 0.0 <= p < 1.0:
        raise ValueError(f"philox: dropout rate p must be a number in [0, 1), got {p!r}")
    return int(math.ceil(float(p) * 2.0**UNIFORM_BITS))


def philox4x32_10_reference(ctr: Any, key: Any) -> np.ndarray:
    """NumPy Philox4x32-10 over arrays: ``ctr`` (..., 4) and ``key`` (..., 2) of 32-bit words
    (broadcast against each other) -> (..., 4) uint32. Ten rounds, each over all elements."""
    ctr, key = np.asarray(ctr), np.asarray(key)
    for name, a, width in (("ctr", ctr, 4), ("key", key, 2)):
        if a.shape[-1:] != (width,) or a.dtype.kind not in "iu" or (a.size and (a.min() < 0 or a.max() >= 2**32)):
            raise ValueError(f"philox: {name} must hold 32-bit words in a last axis of {width}, "
                             f"got {a.dtype} of shape {a.shape}")
    c = [ctr[..., i].astype(np.uint64) for i in range(4)]
    k0, k1 = (key[..., i].astype(np.uint64) for i in range(2))
    mask = np.uint64(0xFFFFFFFF)
    for r in range(ROUNDS):
        if r > 0:
            k0 = (k0 + np.uint64(W0)) & mask
            k1 = (k1 + np.uint64(W1)) & mask
        p0 = np.uint64(M0) * c[0]
        p1 = np.uint64(M1) * c[2]
        c = [(p1 >> np.uint64(32)) ^ c[1] ^ k0, p1 & mask, (p0 >> np.uint64(32)) ^ c[3] ^ k1, p0 & mask]
    return np.stack(np.broadcast_arrays(*c), axis=-1).astype(np.uint32)


def mask_words_reference(seed: int, step: int, layer: int, size: int) -> np.ndarray:
    """The dropout words of elements ``0 .. size - 1`` for ``(seed, step, layer)``, uint32 (size,)."""
    lo, hi = split_seed(seed)
    step, layer = check_step(step), check_layer(layer)
    if not isinstance(size, (int, np.integer)) or size < 0 or size > WORDS * 2**32:
        raise ValueError(f"philox: size must be an integer in [0, 2**34], got {size!r}")
    blocks = np.arange((int(size) + WORDS - 1) // WORDS, dtype=np.uint64)
    ctr = np.empty((blocks.size, 4), np.uint64)
    ctr[:, 0] = blocks
    ctr[:, 1] = layer
    ctr[:, 2] = step & 0xFFFFFFFF
    ctr[:, 3] = step >> 32
    return philox4x32_10_reference(ctr, np.array([lo, hi], np.uint64)).reshape(-1)[:size]


def keep_mask_reference(seed: int, step: int, layer: int, shape: Any, p: float) -> np.ndarray:
    """Dropout's keep mask (bool, ``shape``) for ``(seed, step, layer)`` at rate ``p``."""
    shape = (int(shape),) if isinstance(shape, (int, np.integer)) else tuple(int(s) for s in shape)
    words = mask_words_reference(seed, step, layer, int(np.prod(shape, dtype=np.int64)))
    return ((words >> np.uint32(32 - UNIFORM_BITS)) >= keep_threshold(p)).reshape(shape)


def mask_words(size: int, seed: int, layer: int, step: Any, stream: Any = 0) -> Any:
    """The dropout words of elements ``0 .. size - 1``, computed by ``fill_words`` on the device.

    ``step`` is a one-element int64 array of the array module to allocate with (NumPy under
    the simulator, CuPy on a GPU): the device scalar a captured step reads at each replay.
    """
    from ..base import array_module
    from .kernels import THREADS, blocks_for, launch

    lo, hi = split_seed(seed)
    layer = check_layer(layer)
    if getattr(step, "shape", None) != (1,) or step.dtype != np.int64:
        raise ValueError(f"philox: step must be a one-element int64 array (a device scalar), got {step!r}")
    out = array_module(step).empty(int(size), np.uint32)
    if size:
        launch(fill_words, (blocks_for(blocks_for(int(size), WORDS)), 1, 1), (THREADS, 1, 1), stream, 0,
               out, lo, hi, layer, step)
    return out


def uniform_reference(words: Any) -> np.ndarray:
    """The uniforms ``(w >> 8) 2^-24`` in [0, 1) of words ``w``, float32 (exact)."""
    w = np.asarray(words, dtype=np.uint32)
    return (w >> np.uint32(32 - UNIFORM_BITS)).astype(np.float32) * np.float32(2.0**-UNIFORM_BITS)


__all__ = ["philox4x32_10", "mask_block", "kept", "fill_words", "mask_words", "split_seed", "keep_threshold",
           "philox4x32_10_reference", "mask_words_reference", "keep_mask_reference", "uniform_reference"]
