"""``minicirc train --model cnn``: each head trains, resumes bit for bit, and is read back by
``info``, ``evaluate`` and the checkpoint schema; options the CNN has not are usage errors.

On 256 training and 200 test images of the bundled MNIST (a folder written here), so that
each run takes a few steps and an evaluation of 200 images.
"""
import json

import numpy as np
import pytest

from minicirc.mnist import load_mnist, write_idx
from minicirc.mnist.checkpoint import CheckpointError, read_checkpoint
from minicirc.mnist.cli import main
from minicirc.mnist.train import ConfigError, TrainConfig, Trainer, TrainingStopped, train
from test_train import InterruptAfter   # Ctrl-C after n steps, as the MLP's resume tests stop

CONV = (20 * 1 * 25 + 20) + (50 * 20 * 25 + 50)          # 25,570: the trunk, whatever the head
OUT = 500 * 10 + 10                                      # the dense output layer
#: Trainable parameters of the fully-connected head 800 -> 500 (weights and bias), per head.
HEAD = {"dense": 800 * 500 + 500, "circulant": 800 + 500, "block": 5 * 8 * 100 + 500}


def quiet(*args):
    pass


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    folder = tmp_path_factory.mktemp("mnist-small")
    mnist = load_mnist()
    for stem, (X, y), n in (("train", mnist.train, 256), ("t10k", mnist.test, 200)):
        write_idx(folder / f"{stem}-images-idx3-ubyte", (X[:n].reshape(n, 28, 28) * 255).round().astype(np.uint8))
        write_idx(folder / f"{stem}-labels-idx1-ubyte", y[:n].astype(np.uint8))
    return str(folder)


def train_args(data, out, *extra):
    return ["train", "--model", "cnn", *extra, "--epochs", "1", "--batch-size", "64", "--data", data,
            "--no-verify", "--no-plot", "--no-progress", "--out", str(out)]


@pytest.fixture(scope="module")
def circulant_run(data, tmp_path_factory):
    out = tmp_path_factory.mktemp("cnn-circulant")
    assert main(train_args(data, out)) == 0             # the default head
    return out


def check_results(out, head):
    results = json.loads((out / "results.json").read_text())
    assert results["arch"]["kind"] == "cnn" and results["arch"]["head"] == head
    assert results["config"]["hidden"] == 500 and results["config"]["layers"] == 1
    assert results["trainable_params"] == CONV + HEAD[head] + OUT
    assert results["dense_equivalent_params"] == CONV + HEAD["dense"] + OUT      # the dense-head CNN's
    assert 0 <= results["final"]["test_error"] <= 1 and len(results["epochs"]) == 1
    assert results["epochs"][0]["steps"] == 4                                  # 256 images in 64s
    return results


def test_the_default_head_is_circulant(circulant_run):
    results = check_results(circulant_run, "circulant")
    assert "Circulant(800, 500)" in [row["layer"] for row in results["layers"]]


@pytest.mark.parametrize("head, extra", [("dense", []), ("block", ["--block", "100"])])
def test_each_head_trains_and_writes_its_results(data, tmp_path, head, extra, capsys):
    assert main(train_args(data, tmp_path, "--head", head, *extra)) == 0
    said = capsys.readouterr().out
    assert f"CNN with a {head} head, {CONV + HEAD[head] + OUT:,} trainable parameters" in said
    check_results(tmp_path, head)


def test_info_shows_fully_connected_and_total_compression(circulant_run, capsys):
    assert main(["info", str(circulant_run / "checkpoint.npz")]) == 0
    said = capsys.readouterr().out
    assert "kind=cnn, head=circulant, hidden=500, layers=1" in said
    assert "Conv2D(20, 50, kernel=5)" in said and "Circulant(800, 500)" in said
    fc, fc_dense = HEAD["circulant"] + OUT, HEAD["dense"] + OUT
    assert (f"fully-connected trainable {fc:,}; dense equivalent {fc_dense:,}; "
            f"compression {fc_dense / fc:.1f}x") in said
    total, dense = CONV + fc, CONV + fc_dense
    assert (f"total trainable {total:,} (convolutions {CONV:,}); with a dense head {dense:,}; "
            f"compression {dense / total:.1f}x") in said


def test_evaluate_feeds_images_and_agrees_with_training(circulant_run, data, capsys):
    assert main(["evaluate", str(circulant_run / "checkpoint.npz"), "--data", data, "--no-verify"]) == 0
    said = capsys.readouterr().out
    assert "CNN with a circulant head after 1 epoch" in said
    error = json.loads((circulant_run / "results.json").read_text())["final"]["test_error"]
    wrong = round(error * 200)
    assert f"test error {100 * error:.2f}% ({wrong} of 200 wrong)" in said
    counts = np.array([[int(v) for v in line.split()[1:]] for line in said.splitlines()[-10:]])
    y = load_mnist(data, verify=False).test[1]
    assert counts.sum(axis=1).tolist() == np.bincount(y, minlength=10).tolist()


@pytest.mark.parametrize("head", ["circulant", "block"])
def test_an_interrupted_run_resumes_bit_exact(data, tmp_path, head):
    """Stopped mid-way through epoch 1 (with dropout, which the recipe has not: its generator is
    saved too), resumed, against the same run uninterrupted: every weight and optimizer slot equal."""
    cfg = dict(model="cnn", head=head, block=100 if head == "block" else None, epochs=2, batch_size=64,
               dropout=0.5, data=data, verify=False, plot=False)
    train(TrainConfig(out=str(tmp_path / "full"), **cfg), log=quiet, progress=False)
    trainer = InterruptAfter(TrainConfig(out=str(tmp_path / "cut"), **cfg), n=3)
    with pytest.raises(TrainingStopped) as info:
        trainer.run()
    assert info.value.exit_code == 130 and trainer.step == 3
    config = TrainConfig.from_checkpoint(str(tmp_path / "cut" / "checkpoint.npz"))
    assert (config.model, config.head, config.hidden) == ("cnn", head, 500)
    train(config, resume=str(tmp_path / "cut" / "checkpoint.npz"), log=quiet, progress=False)
    _, a = read_checkpoint(tmp_path / "full" / "checkpoint.npz")
    _, b = read_checkpoint(tmp_path / "cut" / "checkpoint.npz")
    assert a.keys() == b.keys() and {"param/0.W", "param/7.r", "optim/7.r/m"} <= set(a)
    for k in a:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)


# -- what the CNN has not: usage errors ------------------------------------------------------------

@pytest.mark.parametrize("args, message", [
    (["--model", "dense", "--head", "dense"], "--head applies to --model cnn only (this run: --model dense)"),
    (["--head", "circulant"], "--head applies to --model cnn only (this run: --model circulant)"),
    (["--model", "cnn", "--layers", "2"], "--layers applies to the MLPs only: --model cnn has one"),
    (["--model", "cnn", "--layers", "1"], "--layers applies to the MLPs only"),
    (["--model", "cnn", "--head", "block"], "--head block needs --block SIZE"),
    (["--model", "cnn", "--block", "100"], "--block applies to --model block and --model cnn --head block only"),
    (["--model", "cnn", "--head", "dense", "--block", "100"], "--block applies to --model block and"),
    (["--model", "dense", "--block", "100"], "--block applies to --model block and"),
    (["--model", "cnn", "--head", "conv"], "invalid choice: 'conv'"),
])
def test_options_the_model_has_not_are_usage_errors(args, message, capsys, tmp_path):
    with pytest.raises(SystemExit) as info:
        main(["train", *args, "--out", str(tmp_path)])
    err = capsys.readouterr().err
    assert info.value.code == 2 and message in err and "usage:" in err
    assert not (tmp_path / "checkpoint.npz").exists()


@pytest.mark.parametrize("kw, message", [
    (dict(model="dense", head="dense"), "TrainConfig: head='dense' applies to model 'cnn' only, not 'dense'"),
    (dict(head="block", block=100), "TrainConfig: head='block' applies to model 'cnn' only, not 'circulant'"),
    (dict(model="cnn", layers=2), "TrainConfig: layers=2 applies to the MLPs only"),
    (dict(model="cnn", head="mlp"), "TrainConfig: head must be one of dense, circulant, block, got 'mlp'"),
])
def test_python_is_refused_alike(kw, message):
    with pytest.raises(ConfigError, match="^" + message.replace("(", r"\(").replace(")", r"\)")):
        TrainConfig(**kw).resolved()


def test_sizes_left_unset_are_the_models():
    cnn, mlp = TrainConfig(model="cnn").resolved(), TrainConfig(model="dense").resolved()
    assert (cnn.head, cnn.hidden, cnn.layers) == ("circulant", 500, 1)
    assert (mlp.head, mlp.hidden, mlp.layers) == (None, 1024, 2)
    assert TrainConfig(model="cnn").architecture() == {
        "kind": "cnn", "head": "circulant", "hidden": 500, "layers": 1, "sign_flip": True, "dropout": 0.0,
        "block": None, "d_in": 784, "classes": 10}
    assert "head" not in TrainConfig().architecture()          # as MLP checkpoints have always had it
    assert cnn.resolved() == cnn                               # a saved config resolves to itself


def test_the_help_says_each_default(capsys):
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    said = " ".join(capsys.readouterr().out.split())
    assert "{dense,circulant,hybrid,block,cnn}" in said and "{dense,circulant,block}" in said
    assert "hidden width (default 1024; for --model cnn the head's, default 500)" in said
    assert "(default circulant)" in said and "--model cnn has one, its head" in said


def test_a_cnn_too_large_for_memory_is_refused_before_data_or_allocation(monkeypatch, tmp_path):
    import minicirc.mnist.train as tr

    monkeypatch.setattr(tr, "load_mnist", lambda *a, **k: pytest.fail("data loaded before the check"))
    monkeypatch.setattr(tr, "build_model", lambda *a, **k: pytest.fail("model built before the check"))
    with pytest.raises(ConfigError, match=r"the CNN with a dense head, hidden=4,000,000,000, needs at least "
                                          r"[\d,.]+ TiB of memory \(4 x [\d,.]+ TiB of float32 parameters and "
                                          r"buffers\), and [\d,.]+ \w+ is available; choose a smaller hidden$"):
        Trainer(TrainConfig(model="cnn", head="dense", hidden=4_000_000_000, out=str(tmp_path)), log=quiet)


# -- the checkpoint schema on a CNN's checkpoint ---------------------------------------------------

def rewritten(src, dst, change):
    """Checkpoint ``src`` with ``change(meta)`` applied to its metadata, written to ``dst``."""
    meta, arrays = read_checkpoint(src)
    change(meta)
    np.savez(dst, meta=np.array(json.dumps(meta)), **arrays)
    return dst


def set_both(**values):
    def change(meta):
        for k, v in values.items():
            meta["arch"][k] = meta["config"][k] = v
    return change


@pytest.mark.parametrize("values, message", [
    (dict(hidden=64), "array 'param/7.b' has shape (500,), 'arch' declares (64,)"),
    (dict(head="dense"), "'arch' declares arrays ['param/7.W'] that the file lacks"),
])
def test_a_cnn_checkpoint_whose_arrays_do_not_match_is_refused(circulant_run, data, tmp_path, capsys,
                                                               monkeypatch, values, message):
    import minicirc.mnist.models as models

    monkeypatch.setattr(models, "build_model", lambda *a, **k: pytest.fail("built before the check"))
    ckpt = rewritten(circulant_run / "checkpoint.npz", tmp_path / "bad.npz", set_both(**values))
    for argv in (["info", str(ckpt)], ["evaluate", str(ckpt), "--data", data, "--no-verify"]):
        assert main(argv) == 1
        err = capsys.readouterr().err
        assert f"{ckpt}: " in err and message in err and err.count("\n") == 1, err


def test_a_cnn_checkpoint_without_its_head_is_refused(circulant_run, tmp_path, capsys):
    ckpt = rewritten(circulant_run / "checkpoint.npz", tmp_path / "bad.npz", lambda meta: meta["arch"].pop("head"))
    assert main(["info", str(ckpt)]) == 1
    assert "metadata field 'arch' has no 'head'" in capsys.readouterr().err
    with pytest.raises(CheckpointError):
        TrainConfig.from_checkpoint(str(ckpt))
