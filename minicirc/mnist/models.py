"""The models of the MNIST experiments, built from a JSON-able architecture description.

A checkpoint stores the description, so a model can be rebuilt before its weights are
loaded. ``kind``:

- ``dense``:     784 -> hidden (dense) -> ... -> 10, ``layers`` hidden layers.
- ``circulant``: Circulant(784, hidden) first (n = max(784, hidden): the input zero-padded
                 to ``hidden`` when that is wider, the output cropped to it when narrower),
                 ``layers`` circulant hidden layers with sign flips in all, a dense output
                 layer: Cheng et al.'s circulant MLP.
- ``hybrid``:    a dense first layer 784 -> hidden, then ``layers - 1`` circulant layers.
- ``block``:     like ``circulant`` with block-circulant layers of block size ``block``.
- ``cnn``:       ``build_cnn``, the paper's own setting: a LeNet convolutional trunk (800
                 features) and a fully-connected head of width ``hidden`` that is ``head``
                 (circulant, dense or block-circulant, to compare), then a dense output layer.
                 It takes (B, 1, 28, 28) images (``input_shape``), the MLPs (B, 784) rows.

Every hidden layer is followed by ReLU and, if ``dropout > 0``, Dropout.
"""
from __future__ import annotations

import math
from typing import Any, Dict, List, Optional, Tuple

import numpy as np

from ..backends import get_backend
from ..layers import (BlockCirculant, Circulant, Conv2D, Dense, Dropout, Flatten, Layer, MaxPool2D, ReLU,
                      Sequential)
from .settings import FRACTION, POSITIVE_INT, require

#: The MLPs ``build_mlp`` builds.
MLP_KINDS = ("dense", "circulant", "hybrid", "block")
#: Every model kind ``build_model`` builds.
KINDS = (*MLP_KINDS, "cnn")
#: The fully-connected heads ``build_cnn`` puts on the convolutional trunk.
CNN_HEADS = ("dense", "circulant", "block")
#: The trunk's output for a 28 x 28 image: 50 channels of 4 x 4 (28 -5+1-> 24 -pool-> 12 -5+1-> 8 -pool-> 4).
CNN_FEATURES = 50 * 4 * 4
#: The images the CNN takes: one channel of 28 x 28 (the MLPs take the same pixels as one row).
CNN_IMAGE = (1, 28, 28)

#: Each kind's sizes unless told otherwise (``TrainConfig`` fills its ``None``s from here).
#: The CNN has one fully-connected hidden layer, its head, of LeNet's width 500.
MODEL_DEFAULTS: Dict[str, Dict[str, Any]] = {
    **{kind: {"hidden": 1024, "layers": 2, "head": None} for kind in MLP_KINDS},
    "cnn": {"hidden": 500, "layers": 1, "head": "circulant"},
}


def architecture(kind: str = "circulant", *, hidden: int = 1024, layers: int = 2,
                 sign_flip: bool = True, dropout: float = 0.0, block: Optional[int] = None,
                 d_in: int = 784, classes: int = 10, head: Optional[str] = None) -> Dict[str, Any]:
    """Validate and return the description ``build_model`` takes.

    ``head`` (``"dense"``, ``"circulant"`` or ``"block"``) is the CNN's, for which ``layers``
    is 1 (the head is its one hidden layer) and ``d_in`` 784 (its 28 x 28 images); an MLP has
    no head, and its description no ``"head"`` entry (so that the descriptions saved before
    the CNN existed stay what they were).
    """
    if kind not in KINDS:
        raise ValueError(f"unknown model kind {kind!r}; choose one of {', '.join(KINDS)}")
    # The training settings' rules (settings.py), so that these say what TrainConfig says;
    # each returns the value as an int or a float (2.5 is refused, never rounded).
    hidden, layers, d_in, classes = (require(POSITIVE_INT, name, v) for name, v in
                                     (("hidden", hidden), ("layers", layers), ("d_in", d_in), ("classes", classes)))
    if kind == "cnn":
        if head not in CNN_HEADS:
            raise ValueError(f"kind 'cnn': head must be one of {', '.join(CNN_HEADS)}, got {head!r}")
        if layers != 1 or d_in != math.prod(CNN_IMAGE):
            raise ValueError(f"kind 'cnn': its head is one hidden layer on {math.prod(CNN_IMAGE)} pixels "
                             f"(28 x 28), not layers={layers} on d_in={d_in}")
    elif head is not None:
        raise ValueError(f"kind {kind!r}: head applies to kind 'cnn' only, got head={head!r}")
    if kind == "block" or head == "block":
        block = require(POSITIVE_INT, "block", block, prefix=f"kind {kind!r}{' head block' if head else ''}: ")
    dropout = require(FRACTION, "dropout", dropout)
    return {"kind": kind, **({"head": head} if kind == "cnn" else {}), "hidden": hidden, "layers": layers,
            "sign_flip": bool(sign_flip), "dropout": dropout, "block": None if block is None else int(block),
            "d_in": d_in, "classes": classes}


def describe(arch: Dict[str, Any]) -> str:
    """``"circulant MLP"``, ``"CNN with a circulant head"``: what a log line calls the model."""
    return f"CNN with a {arch['head']} head" if arch["kind"] == "cnn" else f"{arch['kind']} MLP"


def input_shape(arch: Dict[str, Any]) -> Tuple[int, ...]:
    """The shape of one input of the model ``arch`` describes: (784,) for an MLP, (1, 28, 28)
    for the CNN. The data are reshaped to it where they load, never inside a layer."""
    return CNN_IMAGE if arch["kind"] == "cnn" else (arch["d_in"],)


def build_model(arch: Dict[str, Any], *, seed: int = 0, dtype: Any = np.float32, backend: Any = None) -> Sequential:
    """The model ``arch`` describes (``build_mlp`` or ``build_cnn``), its generators spawned from ``seed``."""
    arch = architecture(**arch)
    if arch["kind"] != "cnn":
        return build_mlp(arch, seed=seed, dtype=dtype, backend=backend)
    return build_cnn(arch["head"], hidden=arch["hidden"], sign_flip=arch["sign_flip"], block=arch["block"],
                     dropout=arch["dropout"], rng=seed, dtype=dtype, backend=backend)


def build_mlp(arch: Dict[str, Any], *, seed: int = 0, dtype: Any = np.float32,
              backend: Any = None) -> Sequential:
    """Build the Sequential that ``arch`` describes; every generator is spawned from ``seed``."""
    arch = architecture(**arch)
    if arch["kind"] not in MLP_KINDS:
        raise ValueError(f"build_mlp: kind {arch['kind']!r} is not an MLP; build_model builds every kind")
    kind, h, L = arch["kind"], arch["hidden"], arch["layers"]
    seeds = iter(np.random.SeedSequence(seed).spawn(4 * L + 4))
    # One backend object for every layer: built from a name per layer, a CUDA model would
    # hold a backend (with its own twiddle tables and stream handles) in each.
    common = {"dtype": dtype, "backend": get_backend(backend)}

    def hidden_layer(i: int, d_in: int) -> Layer:
        if kind == "dense" or (kind == "hybrid" and i == 0):
            return Dense(d_in, h, rng=np.random.default_rng(next(seeds)), gain=2.0, **common)
        if kind == "block":
            return BlockCirculant(d_in, h, arch["block"], sign_flip=arch["sign_flip"],
                                  rng=np.random.default_rng(next(seeds)), **common)
        # r ~ N(0, 1/d_in), gain 1 (N(0, 1/n) for a square layer): each output keeps its input's
        # second moment. The recipes were chosen with it (docs/results/tuning.md), so it stays
        # gain 1 where the dense layers take He's gain 2 against ReLU. The sign flip keeps rows
        # decorrelated.
        return Circulant(d_in, h, sign_flip=arch["sign_flip"], rng=np.random.default_rng(next(seeds)), **common)

    stack: List[Layer] = []
    d = arch["d_in"]
    for i in range(L):
        stack.append(hidden_layer(i, d))
        stack.append(ReLU(**common))
        if arch["dropout"] > 0:
            stack.append(Dropout(arch["dropout"], rng=np.random.default_rng(next(seeds)), **common))
        d = h
    stack.append(Dense(d, arch["classes"], rng=np.random.default_rng(next(seeds)), **common))
    return Sequential(*stack)


def build_cnn(head: str = "circulant", *, hidden: int = 500, sign_flip: bool = True,
              block: Optional[int] = None, dropout: float = 0.0, rng: Optional[int] = None,
              dtype: Any = np.float32, backend: Any = None) -> Sequential:
    """LeNet with a circulant fully-connected layer: the convolutional setting of Cheng et al.

    Takes (B, 1, 28, 28) images, returns (B, 10) logits::

        Conv2D(1, 20, 5), MaxPool2D(2), ReLU,      (B, 20, 12, 12)
        Conv2D(20, 50, 5), MaxPool2D(2), ReLU,     (B, 50, 4, 4)
        Flatten,                                   (B, 800)
        head 800 -> hidden, ReLU [, Dropout],      (B, hidden)
        Dense(hidden, 10)                          (B, 10)

    ``head``: ``"dense"`` (Dense), ``"circulant"`` (``Circulant(800, hidden)``: n = 800, the
    output cropped to ``hidden``; the input zero-padded when ``hidden > 800``) or ``"block"``
    (``BlockCirculant`` of block size ``block``). Initialisation as in ``build_mlp``: He gain 2
    for the layers followed by a ReLU (both convolutions and a dense head), gain 1 for the
    circulant heads and the output layer. ``rng``: a seed (or None); each layer's generator is
    spawned from it, as ``build_mlp`` spawns from ``seed``. The first convolution's input is
    the images, so its ``backward`` skips ``dx`` (``input_grad=False``): the model's
    ``backward`` returns None.

    Each max-pool comes before its ReLU: LeNet's conv, ReLU, pool computes the same function
    with the same gradients (``max(relu(a), relu(b)) = relu(max(a, b))`` and both send ``dy``
    to the same input, or nothing where the window's maximum is not positive), and this order
    runs the ReLU on a quarter of the numbers. The PyTorch twin has the same order.
    """
    if head not in CNN_HEADS:
        raise ValueError(f"build_cnn: unknown head {head!r}; choose one of {', '.join(CNN_HEADS)}")
    if rng is not None and (not isinstance(rng, (int, np.integer)) or isinstance(rng, bool) or rng < 0):
        raise ValueError(f"build_cnn: rng must be None or a seed (an integer >= 0), got {rng!r}")
    # The head's checks are the MLP's: one hidden layer of width `hidden` on 800 inputs.
    arch = architecture(head, hidden=hidden, layers=1, sign_flip=sign_flip, dropout=dropout, block=block,
                        d_in=CNN_FEATURES)
    seeds = iter(np.random.SeedSequence(rng).spawn(5))
    common = {"dtype": dtype, "backend": get_backend(backend)}

    def gen() -> np.random.Generator:
        return np.random.default_rng(next(seeds))

    h = arch["hidden"]
    if head == "dense":
        fc: Layer = Dense(CNN_FEATURES, h, rng=gen(), gain=2.0, **common)
    elif head == "circulant":
        fc = Circulant(CNN_FEATURES, h, sign_flip=arch["sign_flip"], rng=gen(), **common)
    else:
        fc = BlockCirculant(CNN_FEATURES, h, arch["block"], sign_flip=arch["sign_flip"], rng=gen(), **common)
    stack: List[Layer] = [
        Conv2D(1, 20, 5, rng=gen(), gain=2.0, input_grad=False, **common), MaxPool2D(2, **common), ReLU(**common),
        Conv2D(20, 50, 5, rng=gen(), gain=2.0, **common), MaxPool2D(2, **common), ReLU(**common),
        Flatten(**common), fc, ReLU(**common)]
    if arch["dropout"] > 0:
        stack.append(Dropout(arch["dropout"], rng=gen(), **common))
    stack.append(Dense(h, arch["classes"], rng=gen(), **common))
    return Sequential(*stack)


def dense_equivalent_params(model: Sequential) -> int:
    """Parameters the model would have with dense fully-connected layers of the same widths
    (the other layers, convolutions, as they are): for the CNN, those of its dense-head twin."""
    return sum(row["dense_equivalent"] for row in layer_table(model))


def layer_table(model: Sequential) -> List[Dict[str, Any]]:
    """One row per layer: name, trainable parameters, whether it is fully connected, and the
    parameters a dense layer of its widths would have (another layer's own: a convolution
    stays one when a circulant head is made dense)."""
    rows = []
    for i, layer in enumerate(model.layers):
        fc = hasattr(layer, "d_in") and hasattr(layer, "d_out")
        dense = (layer.d_in * layer.d_out + (layer.d_out if getattr(layer, "bias", True) else 0)
                 if fc else layer.num_params())
        rows.append({"index": i, "layer": repr(layer), "params": layer.num_params(), "fully_connected": fc,
                     "dense_equivalent": dense})
    return rows


def parameter_counts(model: Sequential) -> Dict[str, int]:
    """Trainable parameters, all and fully-connected, and their dense equivalents."""
    rows = layer_table(model)
    fc = [r for r in rows if r["fully_connected"]]
    return {"total": sum(r["params"] for r in rows), "dense_equivalent": sum(r["dense_equivalent"] for r in rows),
            "fully_connected": sum(r["params"] for r in fc),
            "fully_connected_dense_equivalent": sum(r["dense_equivalent"] for r in fc)}
