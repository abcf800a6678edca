"""Well-formed checkpoints that are still wrong: each field missing or of the wrong kind, a
generator state NumPy refuses, settings TrainConfig refuses, strings or NaN among the arrays,
sizes that do not match the arrays or that no memory holds. ``minicirc info``, ``evaluate`` and
``train --resume`` must each answer with one line naming the file and the field, exit status 1.

The enumerated cases name the message; the hypothesis test replaces or deletes any field at
any depth, and any array, and holds the commands to: either exit 1 with that one line, or work
(what the schema lets through, the code after it can trust).
"""
import json
import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from minicirc.mnist import write_idx
from minicirc.mnist.checkpoint import CheckpointError, read_checkpoint
from minicirc.mnist.cli import main
from minicirc.mnist.models import CNN_HEADS, MLP_KINDS, architecture, build_mlp, build_model
from minicirc.mnist.train import ConfigError, TrainConfig, Trainer, train


@pytest.fixture(scope="module")
def good(tmp_path_factory):
    """A real checkpoint of a tiny run (with dropout: its generators are in the metadata), and
    the data it was trained on."""
    folder = tmp_path_factory.mktemp("good")
    rng = np.random.default_rng(0)
    for stem, n in (("train", 200), ("t10k", 50)):
        write_idx(folder / f"{stem}-images-idx3-ubyte", rng.integers(0, 255, (n, 28, 28), dtype=np.uint8))
        write_idx(folder / f"{stem}-labels-idx1-ubyte", rng.integers(0, 10, n, dtype=np.uint8))
    train(TrainConfig(hidden=32, dropout=0.1, epochs=2, batch_size=50, data=str(folder), verify=False,
                      plot=False, out=str(folder / "run")), log=lambda *a: None, progress=False)
    meta, arrays = read_checkpoint(folder / "run" / "checkpoint.npz")
    for k in ("format", "format_version"):
        meta.pop(k)
    return meta, arrays, str(folder)


def write(path, meta, arrays):
    text = json.dumps({**meta, "format": "minicirc-checkpoint", "format_version": 1})
    np.savez(path, meta=np.array(text), **arrays)
    return path


def commands(path, data):
    """The three commands that read a checkpoint, in this process."""
    return [["info", str(path)], ["evaluate", str(path), "--data", data, "--no-verify"],
            ["train", "--resume", str(path), "--no-plot", "--no-progress", "--data", data]]


def one_line_exit_1(capsys, argv, path, field):
    code = main(argv)
    err = capsys.readouterr().err
    assert code == 1, (argv, err)
    assert err.count("\n") == 1 and "usage:" not in err and "Traceback" not in err, err
    assert str(path) in err and field in err, err
    return err


def test_the_good_checkpoint_passes_and_every_field_is_in_the_schema(good):
    from minicirc.mnist.schema import META

    meta, arrays, _ = good
    assert set(META) <= set(meta)
    assert set(meta) - set(META) == set()           # the trainer writes nothing the schema ignores


def edit(meta, path, value):
    """A deep copy of ``meta`` with ``path`` (keys) set to ``value``, or deleted for ``DELETE``."""
    meta = json.loads(json.dumps(meta))
    *parents, last = path
    d = meta
    for k in parents:
        d = d[k]
    if value is DELETE:
        del d[last]
    else:
        d[last] = value
    return meta


DELETE = object()
META_CASES = [
    (("epoch",), DELETE, "'epoch' is missing"),
    (("epoch",), "2", "'epoch' must be an integer >= 0, got a string '2'"),
    (("epoch",), 2.5, "'epoch' must be an integer"),
    (("config",), [], "'config' must be an object, got a list"),
    (("config", "lr"), "fast", "'config' fails the settings' checks: TrainConfig: lr must be a positive number"),
    (("config", "epochs"), -1, "'config' fails the settings' checks: TrainConfig: epochs must be a positive"),
    (("config", "batch_size"), DELETE, "'config' has no 'batch_size'"),
    (("config", "hidden"), 64, "'config' describes hidden=64, 'arch' has 32"),
    (("arch",), {"kind": "circulant"}, "'arch' has no 'hidden'"),
    (("arch", "sign_flip"), "no", "'arch'.sign_flip is 'no'"),
    (("batches", "rng"), {"bit_generator": "PCG64", "state": {"state": -1, "inc": 1}},
     "'batches'.rng is not a generator state NumPy accepts"),
    (("batches", "rng"), "MT19937", "'batches'.rng is not a generator state"),
    (("batches", "position"), 99, "'batches'.position 99 is past the end of an epoch"),
    (("dropout_rng",), {}, "'dropout_rng' must be a list, got an object"),
    (("dropout_rng", 0), [1, 2], "'dropout_rng'[0] is not a generator state"),
    (("dropout_rng",), [], "'dropout_rng' holds 0 generator states, the architecture has 2 dropout layers"),
    (("optimizer", "t"), "8", "'optimizer'.t must be an integer"),
    (("history", 0), "epoch 1", "'history'[0] must be an object, got a string"),
    (("history", 1, "train_loss"), math.nan, "'history'[1].train_loss must be a finite number"),
    (("history",), [], "'history' has 0 epochs, 'epoch' says 2"),
    (("partial_epoch",), {"loss_sum": 1.0}, "'partial_epoch' has no 'right'"),
    (("minicirc_version",), 1, "'minicirc_version' must be a string"),
]


@pytest.mark.parametrize("path, value, message", META_CASES, ids=[".".join(map(str, c[0])) + f"={c[1]!r}"[:20]
                                                                  for c in META_CASES])
def test_each_wrong_field_is_one_line_naming_file_and_field(tmp_path, good, capsys, path, value, message):
    meta, arrays, data = good
    ckpt = write(tmp_path / "bad.npz", edit(meta, path, value), arrays)
    from minicirc.mnist.schema import read_training_checkpoint

    with pytest.raises(CheckpointError) as e:
        read_training_checkpoint(ckpt)
    assert str(e.value).startswith(f"{ckpt}: metadata field {message}"), str(e.value)
    for argv in commands(ckpt, data):
        one_line_exit_1(capsys, argv, ckpt, message)


def nan_in(a):
    a = a.astype(np.result_type(a, np.float32))       # a copy; the step count becomes a float
    a.flat[0] = np.nan
    return a


ARRAY_CASES = [
    ("param/0.r", lambda a: np.array(["x"] * a.size).reshape(a.shape), "array 'param/0.r' must be floating point, got <U1"),
    ("param/0.r", lambda a: a.astype(np.int64), "array 'param/0.r' must be floating point, got int64"),
    ("optim/0.r/m", nan_in, "array 'optim/0.r/m' contains NaN or Inf"),
    ("optim/6.W/v", lambda a: a * np.inf, "array 'optim/6.W/v' contains NaN or Inf"),
    ("buffer/0.signs", lambda a: a[:-1], "array 'buffer/0.signs' has shape (783,), 'arch' declares (784,)"),
    ("optim/t", lambda a: np.array(1.5), "array 'optim/t' must be a non-negative integer scalar"),
    ("param/0.b", None, "'arch' declares arrays ['param/0.b'] that the file lacks"),
]


@pytest.mark.parametrize("key, change, message", ARRAY_CASES, ids=[c[2][:40] for c in ARRAY_CASES])
def test_each_wrong_array_is_one_line_naming_file_and_array(tmp_path, good, capsys, key, change, message):
    meta, arrays, data = good
    arrays = dict(arrays)
    if change is None:
        del arrays[key]
    else:
        arrays[key] = change(arrays[key])
    ckpt = write(tmp_path / "bad.npz", meta, arrays)
    from minicirc.mnist.schema import read_training_checkpoint

    with pytest.raises(CheckpointError, match=f"^{ckpt}: ") as e:
        read_training_checkpoint(ckpt)
    assert message in str(e.value)
    for argv in commands(ckpt, data):
        one_line_exit_1(capsys, argv, ckpt, message)


def test_sizes_that_do_not_match_the_arrays_are_refused_before_building(tmp_path, good, capsys, monkeypatch):
    """hidden=64 in both arch and config, arrays of hidden=32: nothing of size 64 is built."""
    import minicirc.mnist.models as models

    meta, arrays, data = good
    meta = edit(edit(meta, ("arch", "hidden"), 64), ("config", "hidden"), 64)
    ckpt = write(tmp_path / "bad.npz", meta, arrays)
    monkeypatch.setattr(models, "build_model", lambda *a, **k: pytest.fail("built before the check"))
    for argv in commands(ckpt, data)[:2]:
        one_line_exit_1(capsys, argv, ckpt, "array 'param/0.b' has shape (32,), 'arch' declares (64,)")


def test_sizes_no_memory_holds_are_refused_with_the_size(tmp_path, good, capsys):
    meta, arrays, data = good
    huge = 4_000_000_000
    meta = edit(edit(meta, ("arch", "hidden"), huge), ("config", "hidden"), huge)
    ckpt = write(tmp_path / "huge.npz", meta, arrays)
    for argv in commands(ckpt, data):
        err = one_line_exit_1(capsys, argv, ckpt, "metadata field 'arch': the circulant MLP with "
                                                  "hidden=4,000,000,000 and layers=2 needs at least")
        assert "GiB" in err and "is available" in err


def test_an_npy_header_declaring_more_than_its_entry_holds_is_refused_before_allocation(tmp_path):
    """np.load allocates what the header declares before reading: a terabyte here."""
    import io
    import zipfile

    entry = io.BytesIO()
    np.lib.format.write_array_header_1_0(entry, {"descr": "<f4", "fortran_order": False, "shape": (10**12,)})
    entry.write(b"\0" * 16)
    with zipfile.ZipFile(tmp_path / "big.npz", "w") as z:
        z.writestr("param/0.r.npy", entry.getvalue())
    with pytest.raises(CheckpointError, match=r"big.npz: entry 'param/0.r' declares a float32 array of shape "
                                              r"\(1000000000000,\) \(4,000,000,000,000 bytes\) and holds 16;"):
        read_checkpoint(tmp_path / "big.npz")


# -- generated: any field, any depth, any JSON value; any array ----------------------------------

JSON = st.recursive(st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats() | st.text(max_size=8),
                    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
                    max_leaves=6)


@st.composite
def damaged_meta(draw, meta):
    """``meta`` with one place (at a drawn depth) deleted or replaced by a drawn JSON value."""
    path, node = [], meta
    while isinstance(node, (dict, list)) and node and (not path or draw(st.booleans())):
        key = draw(st.sampled_from(sorted(node)) if isinstance(node, dict) else st.integers(0, len(node) - 1))
        path.append(key)
        node = node[key]
    if not path:
        path = [draw(st.sampled_from(sorted(meta)))]
    value = DELETE if isinstance(path[-1], str) and draw(st.integers(0, 4)) == 0 else draw(JSON)
    return path, value


ARRAY_DAMAGE = st.sampled_from(["strings", "int", "nan", "inf", "shorter", "longer", "scalar", "2d", "delete",
                                "float16", "complex"])


def damage_array(a, how):
    return {"strings": lambda: a.astype(str), "int": lambda: a.astype(np.int64), "nan": lambda: nan_in(a),
            "inf": lambda: a + np.inf, "shorter": lambda: a.reshape(-1)[:-1], "longer": lambda: np.append(a, 1.0),
            "scalar": lambda: np.float32(1.0), "2d": lambda: a.reshape(1, -1),
            "float16": lambda: a.astype(np.float16), "complex": lambda: a.astype(np.complex64)}[how]()


SETTINGS = settings(max_examples=100, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


def answered(capsys, argv, path):
    """Exit 0, or exit 1 with one line naming the file: nothing else (no traceback, no usage)."""
    code = main(argv)
    err = capsys.readouterr().err
    assert code in (0, 1), (argv, code, err)
    if code == 1:
        assert err.count("\n") == 1 and str(path) in err and "usage:" not in err, err
    return code


def test_any_damaged_field_is_refused_by_name_or_works(tmp_path_factory, good, capsys):
    meta, arrays, data = good
    folder = tmp_path_factory.mktemp("meta")

    @SETTINGS
    @given(change=damaged_meta(meta))
    def check(change):
        ckpt = write(folder / "mutated.npz", edit(meta, *change), arrays)
        for argv in commands(ckpt, data):
            answered(capsys, argv, ckpt)

    check()


def test_any_damaged_array_is_refused_by_name_or_works(tmp_path_factory, good, capsys):
    meta, arrays, data = good
    folder = tmp_path_factory.mktemp("arrays")

    @SETTINGS
    @given(key=st.sampled_from(sorted(arrays)), how=ARRAY_DAMAGE)
    def check(key, how):
        changed = dict(arrays)
        if how == "delete":
            del changed[key]
        else:
            changed[key] = damage_array(arrays[key], how)
        ckpt = write(folder / "mutated.npz", meta, changed)
        for argv in commands(ckpt, data):
            answered(capsys, argv, ckpt)

    check()


# -- sizes: what a model needs, computed without building it -------------------------------------

def built_shapes(model):
    """The arrays' shapes as each layer of ``model`` holds them, named as checkpoints name them."""
    return {f"{kind}/{i}.{name}": tuple(a.shape) for i, layer in enumerate(model.layers)
            for kind, arrays in (("param", layer.params), ("buffer", layer.buffers)) for name, a in arrays.items()}


@pytest.mark.parametrize("kind", MLP_KINDS)
@pytest.mark.parametrize("hidden, layers, dropout", [(32, 2, 0.0), (1000, 1, 0.1), (50, 3, 0.2)])
def test_array_shapes_are_those_of_the_built_model(kind, hidden, layers, dropout):
    from minicirc.mnist.memory import array_shapes

    arch = architecture(kind, hidden=hidden, layers=layers, dropout=dropout, block=7 if kind == "block" else None)
    assert array_shapes(arch) == built_shapes(build_mlp(arch))


@pytest.mark.parametrize("head", CNN_HEADS)
@pytest.mark.parametrize("hidden, dropout, block", [(500, 0.0, 100), (1000, 0.5, 7), (30, 0.1, 64)])
def test_array_shapes_of_the_cnn_are_those_of_the_built_model(head, hidden, dropout, block):
    """Each head, narrower and wider than the 800 features, with and without dropout (which
    moves the output layer's index), blocks that split 800 and 500 whole and that do not."""
    from minicirc.mnist.memory import array_shapes

    arch = architecture("cnn", head=head, hidden=hidden, layers=1, dropout=dropout,
                        block=block if head == "block" else None)
    shapes = array_shapes(arch)
    assert shapes == built_shapes(build_model(arch))
    assert shapes["param/0.W"] == (20, 1, 5, 5) and shapes["param/3.W"] == (50, 20, 5, 5)


def test_a_model_too_large_for_memory_is_refused_before_data_or_allocation(monkeypatch, tmp_path):
    import minicirc.mnist.train as tr

    monkeypatch.setattr(tr, "load_mnist", lambda *a, **k: pytest.fail("data loaded before the check"))
    monkeypatch.setattr(tr, "build_model", lambda *a, **k: pytest.fail("model built before the check"))
    with pytest.raises(ConfigError, match=r"the dense MLP with hidden=4,000,000,000 and layers=2 needs at least "
                                          r"[\d,.]+ PiB of memory \(3 x [\d,.]+ PiB of float32"):
        Trainer(TrainConfig(model="dense", hidden=4_000_000_000, out=str(tmp_path)), log=lambda *a: None)


# -- descriptions with millions of layers: weighed and refused without listing them -------------

@pytest.mark.parametrize("kind", MLP_KINDS)
@pytest.mark.parametrize("layers", [1, 2, 3, 5])
def test_model_bytes_and_array_count_agree_with_the_listed_arrays(kind, layers):
    from minicirc.mnist.memory import array_count, array_shapes, model_bytes

    arch = architecture(kind, hidden=50, layers=layers, dropout=0.1, block=7 if kind == "block" else None)
    shapes = array_shapes(arch)
    assert array_count(arch) == len(shapes)
    assert model_bytes(arch, np.float64, copies=3) == 3 * 8 * sum(math.prod(s) for s in shapes.values())


def test_a_hundred_million_layers_are_weighed_without_listing_them(monkeypatch):
    """The memory check once listed every layer's arrays: 22 GB and minutes for --layers=67174400."""
    import minicirc.mnist.memory as memory

    calls = []
    real_hidden_shapes = memory._hidden_shapes
    monkeypatch.setattr(memory, "_hidden_shapes", lambda *a: calls.append(a) or real_hidden_shapes(*a))
    arch = architecture("circulant", hidden=1024, layers=10**8)
    assert memory.array_count(arch) == 3 * 10**8 + 2
    assert memory.model_bytes(arch) == 4 * (10**8 * 3 * 1024 + 1024 * 10 + 10)
    assert len(calls) <= 6


def test_many_one_unit_layers_are_refused_for_their_objects(monkeypatch, tmp_path):
    """Their numbers fit in memory; their 10**8 Python objects would not (and would take an
    hour to build): refused before the data are read or anything is built."""
    import minicirc.mnist.memory as memory
    import minicirc.mnist.train as tr

    monkeypatch.setattr(memory, "available_memory", lambda: 64 * 2**30)
    monkeypatch.setattr(tr, "load_mnist", lambda *a, **k: pytest.fail("data loaded before the check"))
    monkeypatch.setattr(tr, "build_model", lambda *a, **k: pytest.fail("model built before the check"))
    with pytest.raises(ConfigError, match=r"the dense MLP with hidden=1 and layers=100,000,000 needs at least "
                                          r"[\d,.]+ GiB of memory \(\d x [\d,.]+ MiB of float32 parameters and "
                                          r"buffers, and [\d,.]+ GiB for the objects of its 100,000,000 hidden "
                                          r"layers\), and 64.0 GiB is available"):
        Trainer(TrainConfig(model="dense", hidden=1, layers=10**8, out=str(tmp_path)), log=lambda *a: None)


def test_a_checkpoint_declaring_millions_of_layers_names_the_first_missing_arrays(good, monkeypatch):
    """A few numbers a layer pass the memory check; the arrays the file lacks are named without
    listing the ten million the description declares."""
    import minicirc.mnist.memory as memory
    from minicirc.mnist.schema import Bad, check_arrays

    meta, arrays, _ = good
    meta = edit(edit(edit(meta, ("arch", "layers"), 10**7), ("arch", "dropout"), 0.0), ("arch", "hidden"), 1)
    real_array_shapes = memory.array_shapes
    monkeypatch.setattr(memory, "array_shapes", lambda arch: real_array_shapes(arch) if arch["layers"] <= 2 else
                        pytest.fail("listed every declared array"))
    with pytest.raises(Bad, match=r"^'arch' declares arrays \['param/2.r', 'buffer/2.signs', 'param/2.b'\] "
                                  r"that the file lacks$"):
        check_arrays(meta, arrays)
