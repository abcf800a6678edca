"""Training: a smoke run that learns, bit-exact resume, Ctrl-C, non-finite loss."""
import json
import sys

import numpy as np
import pytest

from minicirc.backends import NumpyBackend
from minicirc.mnist.checkpoint import read_checkpoint
from minicirc.mnist.checkpoint import CheckpointError
from minicirc.mnist.train import RUN_SETTINGS, ConfigError, TrainConfig, Trainer, TrainingStopped, train

SMALL = dict(train_limit=1000, batch_size=100, plot=False)


def quiet(*args):
    pass


def test_smoke_training_reaches_low_error(tmp_path):
    results = train(TrainConfig(epochs=3, train_limit=3000, out=str(tmp_path), plot=True), log=quiet,
                    progress=False)
    assert results["final"]["test_error"] < 0.20          # chance is 0.90
    losses = [r["train_loss"] for r in results["epochs"]]
    assert losses[-1] < 0.5 * losses[0]
    saved = json.loads((tmp_path / "results.json").read_text())
    assert saved["final"]["test_error"] == results["final"]["test_error"]
    assert saved["trainable_params"] == 1024 + 1024 + 1024 + 1024 + 1024 * 10 + 10
    assert all(k in saved["epochs"][0] for k in ("seconds", "samples_per_second", "train_loss", "test_error"))
    assert (tmp_path / "curves.png").stat().st_size > 1000
    assert (tmp_path / "checkpoint.npz").is_file()


def final_params(path):
    _, arrays = read_checkpoint(path)
    return arrays


@pytest.mark.parametrize("model", ["circulant", "dense"])
def test_resume_is_bit_exact(tmp_path, model):
    full = TrainConfig(model=model, epochs=3, out=str(tmp_path / "full"), save_every=1, hidden=64, **SMALL)
    train(full, log=quiet, progress=False)
    resumed = TrainConfig(model=model, epochs=3, out=str(tmp_path / "resumed"), hidden=64, **SMALL)
    train(resumed, resume=str(tmp_path / "full" / "epoch-001.npz"), log=quiet, progress=False)
    a, b = final_params(tmp_path / "full" / "checkpoint.npz"), final_params(tmp_path / "resumed" / "checkpoint.npz")
    assert a.keys() == b.keys() and any(k.startswith("optim/") for k in a)
    for k in a:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)


class InterruptAfter(Trainer):
    """Simulates Ctrl-C (the SIGINT handler's flag) after ``n`` optimizer steps."""

    def __init__(self, config, n):
        super().__init__(config, log=quiet, progress=False)
        step = self.opt.step

        def counted():
            step()
            if self.step + 1 == n:
                self._on_sigint(2, None)

        self.opt.step = counted


def test_interrupt_saves_mid_epoch_and_resume_matches(tmp_path):
    cfg = dict(epochs=2, hidden=64, **SMALL)
    trainer = InterruptAfter(TrainConfig(out=str(tmp_path / "a"), **cfg), n=13)
    with pytest.raises(TrainingStopped) as info:
        trainer.run()
    assert info.value.exit_code == 130 and "interrupted in epoch 2 at step 13" in str(info.value)
    meta, _ = read_checkpoint(tmp_path / "a" / "checkpoint.npz")
    assert meta["step"] == 13 and meta["batches"]["position"] == 3
    train(TrainConfig(out=str(tmp_path / "a"), **cfg), resume=str(tmp_path / "a" / "checkpoint.npz"),
          log=quiet, progress=False)
    train(TrainConfig(out=str(tmp_path / "b"), **cfg), log=quiet, progress=False)
    a, b = final_params(tmp_path / "a" / "checkpoint.npz"), final_params(tmp_path / "b" / "checkpoint.npz")
    for k in a:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)


def poison(trainer, at, value=np.inf, interrupt_at=None):
    """After optimizer step ``at`` (10 steps an epoch), put ``value`` into the first weight;
    after step ``interrupt_at``, press Ctrl-C."""
    step = trainer.opt.step

    def poisoned():
        step()
        if trainer.step == at:
            trainer.model.layers[0].params["r"][0] = value
        if trainer.step == interrupt_at:
            trainer._on_sigint(2, None)

    trainer.opt.step = poisoned


def stops_with_last_good_checkpoint(trainer, path, message):
    with pytest.raises(TrainingStopped) as info:
        trainer.run()
    assert info.value.exit_code == 3 and message in str(info.value), str(info.value)
    meta, arrays = read_checkpoint(path / "checkpoint.npz")
    assert meta["epoch"] == 1 and meta["step"] == 10
    assert all(np.all(np.isfinite(v)) for v in arrays.values() if v.dtype.kind == "f")


@pytest.mark.filterwarnings("ignore:invalid value:RuntimeWarning")
def test_non_finite_loss_stops_and_keeps_last_good_checkpoint(tmp_path):
    trainer = Trainer(TrainConfig(out=str(tmp_path), epochs=3, hidden=64, **SMALL), log=quiet, progress=False)
    poison(trainer, at=14)                           # in step 15: epoch 2, its 5th step
    stops_with_last_good_checkpoint(trainer, tmp_path, "non-finite loss (nan) in epoch 2 at step 16")
    assert trainer.step == 15                        # stopped before step 16's update


class DeviceLike(NumpyBackend):
    """The NumPy backend posing as a GPU one: reads counted, no per-layer finite checks."""

    on_host, check_finite = False, False

    def __init__(self):
        super().__init__()
        self.reads = 0

    def to_numpy(self, a):
        self.reads += 1
        return super().to_numpy(a)


def device_like_trainer(tmp_path, **cfg):
    trainer = Trainer(TrainConfig(out=str(tmp_path), hidden=64, **SMALL, **cfg), log=quiet, progress=False)
    trainer.backend = bk = DeviceLike()
    for layer in trainer.model.layers:
        layer.backend = bk
    return trainer, bk


def test_on_a_device_backend_metrics_come_back_once_per_epoch(tmp_path):
    trainer, bk = device_like_trainer(tmp_path / "device", epochs=2)
    history = trainer.run()["epochs"]
    assert bk.reads == 2 * 2                       # per epoch: the losses and the right answers
    host = train(TrainConfig(out=str(tmp_path / "host"), epochs=2, hidden=64, **SMALL), log=quiet,
                 progress=False)["epochs"]
    for a, b in zip(history, host):                # the same sums, read later
        assert (a["train_loss"], a["train_error"], a["test_error"]) == (b["train_loss"], b["train_error"],
                                                                      b["test_error"])


@pytest.mark.filterwarnings("ignore:invalid value:RuntimeWarning")
def test_on_a_device_backend_a_nan_is_found_at_epoch_end_and_named(tmp_path):
    trainer, _ = device_like_trainer(tmp_path, epochs=3)
    poison(trainer, at=14)
    stops_with_last_good_checkpoint(trainer, tmp_path, "non-finite loss (nan) in epoch 2 at step 16")
    assert trainer.step == 20                      # it ran on to the epoch's end: no read before


def test_on_a_device_backend_ctrl_c_never_saves_a_nan(tmp_path):
    trainer, _ = device_like_trainer(tmp_path, epochs=2)
    poison(trainer, at=12, value=np.nan, interrupt_at=15)
    stops_with_last_good_checkpoint(trainer, tmp_path, "non-finite loss (nan) in epoch 2 at step 14")


def test_recipes_fill_unset_options():
    c = TrainConfig(model="dense").resolved()
    assert (c.optimizer, c.lr, c.nesterov) == ("sgd", 0.1, True)
    c = TrainConfig(model="circulant", lr=1e-3).resolved()
    assert (c.optimizer, c.lr, c.weight_decay) == ("adamw", 1e-3, 0.1)


def test_resume_refuses_another_run(tmp_path):
    train(TrainConfig(out=str(tmp_path / "a"), epochs=1, hidden=64, **SMALL), log=quiet, progress=False)
    from minicirc.mnist.checkpoint import CheckpointError

    with pytest.raises(CheckpointError, match="architecture"):
        train(TrainConfig(out=str(tmp_path / "b"), epochs=2, hidden=32, **SMALL),
              resume=str(tmp_path / "a" / "checkpoint.npz"), log=quiet, progress=False)
    with pytest.raises(CheckpointError, match=r"batch_size=100 \(this run: 50\)"):
        train(TrainConfig(out=str(tmp_path / "b"), epochs=2, hidden=64, **{**SMALL, "batch_size": 50}),
              resume=str(tmp_path / "a" / "checkpoint.npz"), log=quiet, progress=False)


# -- the edges of an epoch: Ctrl-C in its last step, NaN from its last update ------------------

def same_params(a, b):
    A, B = final_params(a), final_params(b)
    assert A.keys() == B.keys()
    for k in A:
        np.testing.assert_array_equal(A[k], B[k], err_msg=k)


def test_ctrl_c_in_the_last_step_of_an_epoch_completes_it(tmp_path):
    cfg = dict(epochs=3, hidden=64, **SMALL)                       # 10 steps an epoch
    trainer = InterruptAfter(TrainConfig(out=str(tmp_path / "a"), **cfg), n=10)
    with pytest.raises(TrainingStopped) as info:
        trainer.run()
    assert info.value.exit_code == 130 and "at the end of epoch 1 (step 10)" in str(info.value)
    meta, _ = read_checkpoint(tmp_path / "a" / "checkpoint.npz")
    assert (meta["epoch"], meta["step"], meta["batches"]["position"]) == (1, 10, 0)
    assert [r["epoch"] for r in meta["history"]] == [1]
    resumed = train(TrainConfig(out=str(tmp_path / "a"), **cfg), resume=str(tmp_path / "a" / "checkpoint.npz"),
                    log=quiet, progress=False)
    whole = train(TrainConfig(out=str(tmp_path / "b"), **cfg), log=quiet, progress=False)
    assert [r["steps"] for r in resumed["epochs"]] == [r["steps"] for r in whole["epochs"]] == [10, 20, 30]
    same_params(tmp_path / "a" / "checkpoint.npz", tmp_path / "b" / "checkpoint.npz")


def test_an_epoch_resumed_mid_way_is_recorded_whole(tmp_path):
    cfg = dict(epochs=2, hidden=64, **SMALL)
    with pytest.raises(TrainingStopped):
        InterruptAfter(TrainConfig(out=str(tmp_path / "a"), **cfg), n=13).run()
    resumed = train(TrainConfig(out=str(tmp_path / "a"), **cfg), resume=str(tmp_path / "a" / "checkpoint.npz"),
                    log=quiet, progress=False)
    whole = train(TrainConfig(out=str(tmp_path / "b"), **cfg), log=quiet, progress=False)
    for a, b in zip(resumed["epochs"], whole["epochs"]):       # epoch 2's loss and error: all 10 batches
        assert (a["train_loss"], a["train_error"], a["test_error"]) == \
            (b["train_loss"], b["train_error"], b["test_error"])


@pytest.mark.parametrize("device", [False, True], ids=["host", "device-like"])
def test_nan_weights_from_an_epochs_last_update_are_never_evaluated_or_saved(tmp_path, device):
    if device:
        trainer, _ = device_like_trainer(tmp_path, epochs=3)
    else:
        trainer = Trainer(TrainConfig(out=str(tmp_path), epochs=3, hidden=64, **SMALL), log=quiet, progress=False)
    logged = []
    trainer.log = logged.append
    poison(trainer, at=19, value=np.nan)             # the update of step 20, epoch 2's last
    stops_with_last_good_checkpoint(trainer, tmp_path, "parameter 0.r is NaN or infinite after the update "
                                                       "of step 20 (epoch 2)")
    assert len([line for line in logged if line.startswith("epoch")]) == 1   # epoch 2 never reported


@pytest.mark.filterwarnings("ignore:invalid value:RuntimeWarning")
def test_a_nan_before_any_checkpoint_says_there_is_none(tmp_path):
    trainer = Trainer(TrainConfig(out=str(tmp_path), epochs=2, hidden=64, **SMALL), log=quiet, progress=False)
    poison(trainer, at=3)
    with pytest.raises(TrainingStopped, match="No checkpoint was written: no epoch completed"):
        trainer.run()
    assert not (tmp_path / "checkpoint.npz").exists()


# -- resuming continues the same run -------------------------------------------------------------

def test_resume_refuses_any_setting_of_another_run(tmp_path):
    cfg = dict(epochs=1, hidden=64, **SMALL)
    train(TrainConfig(out=str(tmp_path / "a"), **cfg), log=quiet, progress=False)
    ckpt = str(tmp_path / "a" / "checkpoint.npz")
    for change in ({"lr": 0.5}, {"weight_decay": 0.0}, {"schedule": "constant"}, {"warmup": 5},
                   {"epochs": 4}, {"seed": 1}):
        with pytest.raises(CheckpointError, match=f"{next(iter(change))}="):
            train(TrainConfig(out=str(tmp_path / "b"), **{**cfg, **change}), resume=ckpt, log=quiet,
                  progress=False)
    # where and how may change: another output folder, no plot
    train(TrainConfig(out=str(tmp_path / "c"), **{**cfg, "plot": True}), resume=ckpt, log=quiet, progress=False)


def test_resume_may_add_epochs_where_the_schedule_ignores_the_total(tmp_path):
    cfg = dict(hidden=64, schedule="constant", **SMALL)
    train(TrainConfig(out=str(tmp_path / "a"), epochs=1, **cfg), log=quiet, progress=False)
    more = train(TrainConfig(out=str(tmp_path / "a"), epochs=2, **cfg), resume=str(tmp_path / "a" / "checkpoint.npz"),
                 log=quiet, progress=False)
    whole = train(TrainConfig(out=str(tmp_path / "b"), epochs=2, **cfg), log=quiet, progress=False)
    assert [r["steps"] for r in more["epochs"]] == [r["steps"] for r in whole["epochs"]] == [10, 20]
    same_params(tmp_path / "a" / "checkpoint.npz", tmp_path / "b" / "checkpoint.npz")


def test_every_setting_either_defines_the_run_or_only_where_it_runs():
    where = {"backend", "data", "verify", "out", "save_every", "plot"}
    fields = set(TrainConfig.__dataclass_fields__)
    assert set(RUN_SETTINGS) | where == fields and not set(RUN_SETTINGS) & where


# -- settings that make no run -------------------------------------------------------------------

def test_bad_settings_raise_config_errors(tmp_path):
    (tmp_path / "afile").write_text("")
    with pytest.raises(ConfigError, match="output folder .*afile/sub: cannot create it"):
        Trainer(TrainConfig(out=str(tmp_path / "afile" / "sub")), log=quiet)
    with pytest.raises(ConfigError, match="validation=60000 must leave"):
        Trainer(TrainConfig(out=str(tmp_path / "o"), validation=60000), log=quiet)
    with pytest.raises(ConfigError, match="train_limit must be a positive"):
        Trainer(TrainConfig(out=str(tmp_path / "o"), train_limit=-5), log=quiet)


def test_no_momentum_means_no_nesterov_whatever_the_recipe():
    c = TrainConfig(model="dense", momentum=0.0).resolved()
    assert (c.momentum, c.nesterov) == (0.0, False)
    assert TrainConfig(model="dense").resolved().nesterov is True


def test_images_of_another_size_are_refused_before_training(tmp_path):
    from minicirc.mnist import DataError, write_idx

    rng = np.random.default_rng(0)
    for prefix, n in (("train", 40), ("t10k", 10)):
        write_idx(tmp_path / f"{prefix}-images-idx3-ubyte", rng.integers(0, 256, (n, 32, 32), dtype=np.uint8))
        write_idx(tmp_path / f"{prefix}-labels-idx1-ubyte", rng.integers(0, 10, n, dtype=np.uint8))
    with pytest.raises(DataError, match="images of 1024 pixels, the circulant MLP takes 784"):
        Trainer(TrainConfig(data=str(tmp_path), verify=False, out=str(tmp_path / "o")), log=quiet)


def test_resume_on_other_data_is_refused_by_name(tmp_path):
    from minicirc.mnist import write_idx

    rng = np.random.default_rng(0)

    def data(folder, n):
        folder.mkdir()
        for prefix, k in (("train", n), ("t10k", 20)):
            write_idx(folder / f"{prefix}-images-idx3-ubyte", rng.integers(0, 256, (k, 28, 28), dtype=np.uint8))
            write_idx(folder / f"{prefix}-labels-idx1-ubyte", rng.integers(0, 10, k, dtype=np.uint8))
        return str(folder)

    cfg = dict(epochs=1, hidden=32, batch_size=50, plot=False, verify=False)
    train(TrainConfig(data=data(tmp_path / "d400", 400), out=str(tmp_path / "a"), **cfg), log=quiet, progress=False)
    with pytest.raises(CheckpointError, match="trained on 400 training images, this run has 500"):
        train(TrainConfig(data=data(tmp_path / "d500", 500), out=str(tmp_path / "b"), **cfg),
              resume=str(tmp_path / "a" / "checkpoint.npz"), log=quiet, progress=False)


def test_an_output_folder_that_cannot_be_written_is_found_before_training(tmp_path, monkeypatch):
    from pathlib import Path

    real = Path.write_bytes

    def read_only(self, data):
        if self.parent == tmp_path / "ro":
            raise PermissionError(13, "Permission denied")
        return real(self, data)

    monkeypatch.setattr(Path, "write_bytes", read_only)
    with pytest.raises(ConfigError, match="ro: cannot write in it .Permission denied"):
        Trainer(TrainConfig(out=str(tmp_path / "ro")), log=quiet)


@pytest.mark.parametrize("kw, message", [
    (dict(model="mlp"), "model must be one of dense, circulant, hybrid, block, cnn, got 'mlp'"),
    (dict(epochs=0), "epochs must be a positive integer, got 0"),
    (dict(epochs=2.5), "epochs must be a positive integer, got 2.5"),
    (dict(warmup=-5), "warmup must be a non-negative integer"),
    (dict(save_every=-1), "save_every must be a non-negative integer"),
    (dict(dtype="float16"), "dtype must be float32 or float64, got 'float16'"),
    (dict(dtype=None), "dtype must be float32 or float64, got None"),
    (dict(lr="0.1"), "lr must be a positive number, got '0.1'"),
    (dict(lr=float("inf")), "lr must be a positive number, got inf"),
    (dict(dropout=1.0), r"dropout must be a number in \[0, 1\)"),
    (dict(validation=1.5), r"validation must be a count or a fraction in \(0, 1\), got 1.5"),
    (dict(backend="tpu"), "backend must be one of numpy, numba"),
    (dict(sign_flip="no"), "sign_flip must be True or False, got 'no'"),
    (dict(out=3), "out must be a path, got 3"),
])
def test_settings_from_python_are_checked_before_anything_runs(kw, message, monkeypatch):
    """The command line checks its options; from Python these ran an epoch (or nothing) first."""
    import minicirc.mnist.train as tr

    monkeypatch.setattr(tr, "load_mnist", lambda *a, **k: pytest.fail("data loaded before the check"))
    with pytest.raises(ConfigError, match=f"TrainConfig: {message}"):
        Trainer(TrainConfig(**kw), log=quiet)


def test_a_path_and_a_numpy_dtype_from_python_are_written_into_the_checkpoint(tmp_path):
    """Both are normalised to JSON before training: else the first checkpoint, after an epoch, fails."""
    import pathlib

    from fractions import Fraction

    cfg = TrainConfig(out=pathlib.Path(tmp_path), dtype=np.float64, hidden=np.int64(32), epochs=1.0,
                      validation=100.0, lr=Fraction(1, 1000), **SMALL)
    train(cfg, log=quiet, progress=False)
    saved = json.loads((tmp_path / "results.json").read_text())
    meta, _ = read_checkpoint(tmp_path / "checkpoint.npz")
    assert meta["config"]["out"] == str(tmp_path) and meta["config"]["dtype"] == "float64"
    assert meta["config"]["hidden"] == 32 and meta["config"]["validation"] == 100
    assert meta["config"]["epochs"] == 1 and meta["config"]["lr"] == 0.001
    assert saved["final"]["test_error"] is not None


def test_the_command_trains_where_python_has_no_resource_module(tmp_path):
    """Windows has no ``resource`` module: the command must start and train all the same, with no
    peak memory to report (``None`` in results.json, not a guess)."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(root), os.environ.get("PYTHONPATH", "")])}
    args = ["train", "--epochs", "1", "--train-limit", "200", "--hidden", "32", "--no-plot", "--out", str(tmp_path)]
    code = ("import sys; sys.modules['resource'] = None  # what 'import resource' meets on Windows\n"
            "from minicirc.mnist.cli import main\n"
            f"sys.exit(main({args!r}))")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    assert p.returncode == 0, p.stderr
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["final"]["peak_rss_mb"] is None and results["epochs"][0]["peak_rss_mb"] is None
    assert results["final"]["test_error"] is not None


def test_peak_memory_is_none_without_resource_and_a_number_with_it(monkeypatch):
    from minicirc.mnist import train as tr

    assert tr._peak_rss_mb() > 0
    monkeypatch.setitem(sys.modules, "resource", None)
    assert tr._peak_rss_mb() is None


def as_written_before_adamw(path):
    """Rewrite a checkpoint as minicirc wrote it when the optimizer "adam" had decoupled weight
    decay (today's "adamw"): the settings say "adam", and the metadata's optimizer entry has
    no "class". The arrays (param/, buffer/, optim/<name>/m and v, optim/t) were the same."""
    meta, arrays = read_checkpoint(path)
    assert meta["config"]["optimizer"] == "adamw" and meta["optimizer"]["class"] == "AdamW"
    meta["config"]["optimizer"] = "adam"
    meta["optimizer"] = {"name": "adam", "t": meta["optimizer"]["t"]}
    np.savez(path, **arrays, meta=np.array(json.dumps(meta)))


@pytest.mark.parametrize("how", ["command line", "python"])
def test_a_checkpoint_from_before_adamw_resumes_bit_exact_with_adamw(tmp_path, how):
    cfg = dict(model="circulant", epochs=3, hidden=64, **SMALL)     # its recipe: decay 0.1
    train(TrainConfig(out=str(tmp_path / "full"), save_every=1, **cfg), log=quiet, progress=False)
    old = tmp_path / "full" / "epoch-001.npz"
    as_written_before_adamw(old)
    if how == "command line":                   # minicirc train --resume takes the file's settings
        config = TrainConfig.from_checkpoint(str(old), out=str(tmp_path / "resumed"))
        assert config.optimizer == "adamw"
    else:
        config = TrainConfig(out=str(tmp_path / "resumed"), **cfg)
    trainer = Trainer(config, log=quiet, progress=False)
    trainer.resume(str(old))
    assert type(trainer.opt).__name__ == "AdamW" and trainer.opt.weight_decay == 0.1
    trainer.run()
    a = final_params(tmp_path / "full" / "checkpoint.npz")
    b = final_params(tmp_path / "resumed" / "checkpoint.npz")
    assert a.keys() == b.keys() and any(k.startswith("optim/") for k in a)
    for k in a:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)


def test_a_checkpoint_from_before_the_head_setting_resumes_bit_exact(tmp_path):
    """Checkpoints written before ``head`` existed have no such setting: it takes its default
    (None, as every MLP's), and the run goes on as if never stopped."""
    cfg = dict(model="circulant", epochs=2, hidden=64, **SMALL)
    train(TrainConfig(out=str(tmp_path / "full"), save_every=1, **cfg), log=quiet, progress=False)
    old = tmp_path / "full" / "epoch-001.npz"
    meta, arrays = read_checkpoint(old)
    assert meta["config"].pop("head") is None and "head" not in meta["arch"]
    np.savez(old, **arrays, meta=np.array(json.dumps(meta)))
    assert "head" not in read_checkpoint(old)[0]["config"]
    config = TrainConfig.from_checkpoint(str(old), out=str(tmp_path / "resumed"))
    assert config.head is None and config.hidden == 64
    train(config, resume=str(old), log=quiet, progress=False)
    a = final_params(tmp_path / "full" / "checkpoint.npz")
    b = final_params(tmp_path / "resumed" / "checkpoint.npz")
    assert a.keys() == b.keys() and any(k.startswith("optim/") for k in a)
    for k in a:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)
    assert read_checkpoint(tmp_path / "resumed" / "checkpoint.npz")[0]["config"]["head"] is None


def test_adam_with_l2_decay_is_a_run_of_its_own(tmp_path):
    """A checkpoint written today with "adam" (L2) stays "adam": only the old files, which
    have no optimizer class, are read as "adamw"."""
    cfg = dict(model="circulant", optimizer="adam", epochs=1, hidden=64, **SMALL)
    train(TrainConfig(out=str(tmp_path / "a"), **cfg), log=quiet, progress=False)
    meta, _ = read_checkpoint(tmp_path / "a" / "checkpoint.npz")
    assert meta["optimizer"]["class"] == "Adam" and meta["config"]["optimizer"] == "adam"
    assert TrainConfig.from_checkpoint(str(tmp_path / "a" / "checkpoint.npz")).optimizer == "adam"
    with pytest.raises(CheckpointError, match=r"optimizer='adam' \(this run: 'adamw'\)"):
        Trainer(TrainConfig(out=str(tmp_path / "b"), **{**cfg, "optimizer": "adamw"}),
                log=quiet, progress=False).resume(str(tmp_path / "a" / "checkpoint.npz"))


def test_a_second_ctrl_c_stops_at_once_naming_the_last_good_checkpoint(tmp_path):
    """Outside a checkpoint write the second Ctrl-C does not wait; it is TrainingStopped (130),
    not a KeyboardInterrupt that the command line would show as a traceback."""
    cfg = TrainConfig(out=str(tmp_path), epochs=3, hidden=64, **SMALL)     # 10 steps an epoch
    trainer = Trainer(cfg, log=quiet, progress=False)
    step = trainer.opt.step

    def twice():
        step()
        if trainer.step == 13:
            trainer._on_sigint(2, None)
            trainer._on_sigint(2, None)

    trainer.opt.step = twice
    with pytest.raises(TrainingStopped) as info:
        trainer.run()
    assert info.value.exit_code == 130
    assert "interrupted twice in epoch 2: stopped at once. Last good checkpoint: " in str(info.value)
    assert read_checkpoint(tmp_path / "checkpoint.npz")[0]["step"] == 10


def test_a_ctrl_c_during_a_checkpoint_write_lets_it_finish(tmp_path, monkeypatch):
    import minicirc.mnist.train as tr

    cfg = TrainConfig(out=str(tmp_path), epochs=3, hidden=64, **SMALL)
    trainer = Trainer(cfg, log=quiet, progress=False)
    real = tr.save_checkpoint

    def interrupted_twice(*args, **kw):
        trainer._on_sigint(2, None)
        trainer._on_sigint(2, None)          # would raise KeyboardInterrupt outside a write
        return real(*args, **kw)

    monkeypatch.setattr(tr, "save_checkpoint", interrupted_twice)
    with pytest.raises(TrainingStopped, match="interrupted at the end of epoch 1"):
        trainer.run()
    assert read_checkpoint(tmp_path / "checkpoint.npz")[0]["epoch"] == 1
