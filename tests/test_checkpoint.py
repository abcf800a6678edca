"""Checkpoints: round trip, atomic writes, and clear errors for every kind of bad file."""
import json

import numpy as np
import pytest

import minicirc as mc
from minicirc.mnist import checkpoint as ck
from minicirc.mnist.checkpoint import CheckpointError, load_into, read_checkpoint, save_checkpoint
from minicirc.mnist.models import architecture, build_mlp


def model_and_opt(hidden=32, seed=0):
    model = build_mlp(architecture("circulant", hidden=hidden, dropout=0.1), seed=seed)
    opt = mc.Adam(model, lr=1e-3)
    x = np.random.default_rng(0).random((4, 784), dtype=np.float32)
    loss = mc.SoftmaxCrossEntropy()
    loss.forward(model.forward(x), np.array([1, 2, 3, 4]))
    model.backward(loss.backward())
    opt.step()
    return model, opt


def test_round_trip(tmp_path):
    model, opt = model_and_opt()
    save_checkpoint(tmp_path / "c.npz", model, {"arch": {"x": 1}, "epoch": 3}, opt)
    meta, arrays = read_checkpoint(tmp_path / "c.npz")
    assert meta["epoch"] == 3 and meta["format"] == "minicirc-checkpoint" and meta["minicirc_version"] == mc.__version__
    other, opt2 = model_and_opt(seed=1)
    load_into(other, arrays, "c.npz", optimizer=opt2)
    for (n1, p1), (n2, p2) in zip(model.named_parameters(), other.named_parameters()):
        np.testing.assert_array_equal(p1, p2)
    np.testing.assert_array_equal(model[0].signs, other[0].signs)
    for k, v in opt.state_arrays().items():
        np.testing.assert_array_equal(v, opt2.state_arrays()[k])


def test_a_crash_during_save_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    model, opt = model_and_opt()
    path = tmp_path / "c.npz"
    save_checkpoint(path, model, {"epoch": 1}, opt)
    before = path.read_bytes()

    def exploding_savez(f, **arrays):
        f.write(b"half a checkpoint")
        raise OSError("disk full")

    monkeypatch.setattr(ck.np, "savez", exploding_savez)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(path, model, {"epoch": 2}, opt)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["c.npz"]          # no temporary left behind


def test_bad_files(tmp_path):
    model, opt = model_and_opt()
    good = tmp_path / "good.npz"
    save_checkpoint(good, model, {"epoch": 1}, opt)
    data = good.read_bytes()

    with pytest.raises(CheckpointError, match="missing.npz: no such checkpoint"):
        read_checkpoint(tmp_path / "missing.npz")
    (tmp_path / "trunc.npz").write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match=r"trunc.npz: .*corrupt or truncated"):
        read_checkpoint(tmp_path / "trunc.npz")
    (tmp_path / "noise.npz").write_bytes(b"\x00" * 100)
    with pytest.raises(CheckpointError, match="noise.npz"):
        read_checkpoint(tmp_path / "noise.npz")
    (tmp_path / "empty.npz").write_bytes(b"")
    with pytest.raises(CheckpointError, match="empty.npz: empty file"):
        read_checkpoint(tmp_path / "empty.npz")
    np.savez(tmp_path / "plain.npz", a=np.zeros(3))
    with pytest.raises(CheckpointError, match="plain.npz: no 'meta'"):
        read_checkpoint(tmp_path / "plain.npz")
    np.savez(tmp_path / "future.npz", meta=np.array(json.dumps({"format": "minicirc-checkpoint", "format_version": 99,
                                                                 "minicirc_version": "9.0"})))
    with pytest.raises(CheckpointError, match="future.npz: checkpoint format version 99 .*minicirc 9.0"):
        read_checkpoint(tmp_path / "future.npz")


def test_more_bad_files_name_themselves(tmp_path):
    model, opt = model_and_opt()
    good = tmp_path / "good.npz"
    save_checkpoint(good, model, {"epoch": 1}, opt)
    np.save(tmp_path / "array.npy", np.zeros(3))
    (tmp_path / "array.npy").rename(tmp_path / "array.npz")           # an .npy under an .npz name
    with pytest.raises(CheckpointError, match=r"array.npz: a single NumPy array \(.npy\)"):
        read_checkpoint(tmp_path / "array.npz")
    data = bytearray(good.read_bytes())
    data[data.index(b"PK\x01\x02") + 10] = 99           # the first entry's compression method, as listed
    (tmp_path / "method.npz").write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="method.npz: .*compression method"):
        read_checkpoint(tmp_path / "method.npz")


@pytest.mark.parametrize("name, content", [("README.md", b"# minicirc\n\nA small engine"),
                                           ("curves.png", b"\x89PNG\r\n\x1a\n" + b"\x00" * 64)])
def test_a_file_that_is_not_an_archive_is_named_as_such(tmp_path, name, content):
    """Not NumPy's pickle advice ('allow_pickle=...'), which sends the user the wrong way."""
    (tmp_path / name).write_bytes(content)
    with pytest.raises(CheckpointError, match=rf"{name}: not a minicirc checkpoint: a checkpoint is an "
                                              r"\.npz \(zip\) archive, and this file starts with b") as e:
        read_checkpoint(tmp_path / name)
    assert "pickle" not in str(e.value)


def test_a_checkpoint_is_as_readable_as_any_file_the_user_writes(tmp_path):
    import os
    import stat

    model, opt = model_and_opt()
    old = os.umask(0o022)
    try:
        save_checkpoint(tmp_path / "c.npz", model, {"epoch": 1}, opt)
        (tmp_path / "other").write_text("")
    finally:
        os.umask(old)
    mode = stat.S_IMODE((tmp_path / "c.npz").stat().st_mode)
    assert mode == stat.S_IMODE((tmp_path / "other").stat().st_mode) == 0o644, oct(mode)


def test_another_architecture_is_refused_and_model_untouched(tmp_path):
    small, _ = model_and_opt(hidden=32)
    save_checkpoint(tmp_path / "c.npz", small, {"epoch": 1})
    _, arrays = read_checkpoint(tmp_path / "c.npz")
    big, _ = model_and_opt(hidden=64)
    b_before = big[0].params["b"].copy()
    with pytest.raises(CheckpointError, match=r"param '0.b' has shape \(32,\) in the checkpoint, the model expects \(64,\)"):
        load_into(big, arrays, "c.npz")
    np.testing.assert_array_equal(big[0].params["b"], b_before)
    dense = build_mlp(architecture("dense", hidden=32))
    with pytest.raises(CheckpointError, match="another architecture"):
        load_into(dense, arrays, "c.npz")


def test_a_refused_optimizer_state_leaves_the_model_untouched(tmp_path):
    model, opt = model_and_opt()
    save_checkpoint(tmp_path / "c.npz", model, {"epoch": 1}, opt)
    _, arrays = read_checkpoint(tmp_path / "c.npz")
    arrays["optim/t"] = np.array(2.5)                       # not a step count
    other, opt2 = model_and_opt(seed=1)
    before = [p.copy() for p in other.parameters()]
    with pytest.raises(CheckpointError, match="optimizer state: .*step count 't'"):
        load_into(other, arrays, "c.npz", optimizer=opt2)
    for b, p in zip(before, other.parameters()):
        np.testing.assert_array_equal(b, p)


def test_a_failed_write_names_the_checkpoint(tmp_path, monkeypatch):
    model, _ = model_and_opt()

    def full(f, **arrays):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(ck.np, "savez", full)
    with pytest.raises(OSError, match=r"cannot write checkpoint .*c.npz: No space left on device"):
        save_checkpoint(tmp_path / "c.npz", model, {"epoch": 1})


def test_meta_cannot_overwrite_the_format_keys_or_hold_what_json_cannot(tmp_path):
    """Refused before writing: either would make a file that read_checkpoint then refuses."""
    model, opt = model_and_opt()
    with pytest.raises(ValueError, match=r"meta keys \['format'\] are reserved"):
        save_checkpoint(tmp_path / "c.npz", model, {"format": "mine"})
    with pytest.raises(TypeError, match="meta must hold only JSON values.*float32"):
        save_checkpoint(tmp_path / "c.npz", model, {"lr": np.float32(0.1)})
    assert not list(tmp_path.iterdir())
    save_checkpoint(tmp_path / "c.npz", model, {"minicirc_version": "0.0"})   # always ours
    assert read_checkpoint(tmp_path / "c.npz")[0]["minicirc_version"] == mc.__version__


def test_meta_cannot_overwrite_format_version(tmp_path):
    model = mc.Sequential(mc.Dense(3, 2, rng=0))
    with pytest.raises(ValueError, match=r"meta keys \['format_version'\] are reserved"):
        save_checkpoint(tmp_path / "c.npz", model, {"format_version": 2})
    assert not list(tmp_path.iterdir())


def test_a_circular_meta_is_refused_as_not_json(tmp_path):
    model = mc.Sequential(mc.Dense(3, 2, rng=0))
    meta = {"epoch": 1}
    meta["self"] = meta
    with pytest.raises(TypeError, match="meta must hold only JSON values.*[Cc]ircular"):
        save_checkpoint(tmp_path / "c.npz", model, meta)


@pytest.mark.parametrize("meta, message", [
    ({"format": "someone-else", "format_version": 1}, r"not a minicirc checkpoint \(format 'someone-else'\)"),
    ({"format_version": 1}, r"not a minicirc checkpoint \(format None\)"),
    ({"format": "minicirc-checkpoint", "format_version": 0}, "checkpoint format version 0 "),
    ({"format": "minicirc-checkpoint"}, "checkpoint format version None "),
    ("{not json", "metadata is not valid JSON"),
    ("[1, 2]", r"not a minicirc checkpoint \(its metadata is a JSON array, not an object\)"),
    ("null", r"not a minicirc checkpoint \(its metadata is a JSON null, not an object\)"),
    ('"minicirc-checkpoint"', r"not a minicirc checkpoint \(its metadata is a JSON string"),
    ("3", r"not a minicirc checkpoint \(its metadata is a JSON number"),
])
def test_a_foreign_or_old_or_garbled_meta_is_refused(tmp_path, meta, message):
    text = meta if isinstance(meta, str) else json.dumps(meta)
    np.savez(tmp_path / "c.npz", meta=np.array(text))
    with pytest.raises(CheckpointError, match=f"c.npz: {message}"):
        read_checkpoint(tmp_path / "c.npz")


def test_a_file_starting_with_p_is_not_taken_for_a_zip(tmp_path):
    (tmp_path / "image.ppm").write_bytes(b"P6\n2 2\n255\n" + b"\x00" * 12)
    with pytest.raises(CheckpointError, match=r"image.ppm: not a minicirc checkpoint: a checkpoint is an "
                                              r"\.npz \(zip\) archive") as e:
        read_checkpoint(tmp_path / "image.ppm")
    assert "pickle" not in str(e.value)


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_a_non_finite_parameter_is_refused_and_the_model_untouched(tmp_path, bad):
    model = mc.Sequential(mc.Dense(3, 2, rng=0))
    save_checkpoint(tmp_path / "c.npz", model, {"epoch": 1})
    _, arrays = read_checkpoint(tmp_path / "c.npz")
    arrays["param/0.W"] = arrays["param/0.W"].copy()
    arrays["param/0.W"][0, 0] = bad
    other = mc.Sequential(mc.Dense(3, 2, rng=1))
    before = other[0].params["W"].copy()
    with pytest.raises(CheckpointError, match="param '0.W' contains NaN or Inf"):
        load_into(other, arrays, "c.npz")
    np.testing.assert_array_equal(other[0].params["W"], before)


@pytest.mark.parametrize("key, value, message", [
    ("optim/0.r/m", np.zeros(12, np.float32), r"state 'm' for '0.r' has shape \(12,\), the parameter \(784,\)"),
    ("optim/9.W/m", np.zeros(3, np.float32), r"state 'm' for parameter '9.W', which the model does not have"),
])
def test_optimizer_state_that_does_not_fit_the_model_is_a_checkpoint_error(tmp_path, key, value, message):
    """Taken as it was, the first step blamed "the model changed after the optimizer was built"."""
    model, opt = model_and_opt()
    save_checkpoint(tmp_path / "c.npz", model, {"epoch": 1}, opt)
    _, arrays = read_checkpoint(tmp_path / "c.npz")
    arrays[key] = value
    fresh, fresh_opt = model_and_opt(seed=1)
    with pytest.raises(CheckpointError, match=f"c.npz: optimizer state: Adam: {message}"):
        load_into(fresh, arrays, "c.npz", fresh_opt)
