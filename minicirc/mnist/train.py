"""The training loop behind ``minicirc train``: data, model, optimizer, checkpoints, results.

One epoch: seeded shuffled mini-batches; for each, a learning rate from the schedule and
``minicirc.train_step`` (forward and loss, backward, update), the loss metered by
``meter.EpochMeter``. After each epoch: errors on the validation
and test sets, one log line, an atomic checkpoint. At the end: ``results.json`` and a PNG
of the curves. Ctrl-C finishes the current step, saves a checkpoint and stops cleanly; a
non-finite loss stops training with the epoch and step named, keeping the last good
checkpoint. A second Ctrl-C stops at once, unless a checkpoint is being written: then as soon
as it is complete. Every file is written atomically (``files.py``). Resuming from a checkpoint restores parameters, optimizer state, the data
iterator's position and every generator, so the run continues bit for bit.
"""
from __future__ import annotations

import contextlib
import json
import math
import os
import signal
import sys
import threading
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple

import numpy as np

from .. import __version__
from ..backends import array_module, get_backend
from . import files
from .checkpoint import CheckpointError, load_into, save_checkpoint
from .config import RUN_SETTINGS, SCHEDULES, ConfigError, TrainConfig, saved_config  # noqa: F401 (also minicirc.mnist.train's)
from ..batches import Batches
from .dataset import load_mnist
from .idx import DataError
from ..layers import Dropout, Sequential
from ..layers.base import NonFiniteError
from ..loop import progress_bar, train_step
from ..losses import SoftmaxCrossEntropy
from .meter import EpochMeter
from .schema import read_training_checkpoint
from .memory import memory_shortfall
from .models import build_model, dense_equivalent_params, describe, input_shape, layer_table
from ..optim import SGD, Adam, AdamW


#: Exit status of a run stopped by a non-finite loss or weight (as the command line returns it).
DIVERGED = 3


class TrainingStopped(Exception):
    """Training ended early; ``exit_code`` is what the command line returns."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def evaluate(model: Sequential, X: Any, y: Any, batch: int = 2000) -> Dict[str, Any]:
    """Error rate and predictions on ``(X, y)``, in evaluation mode (dropout off)."""
    was_training = model.training
    model.eval()
    preds = [model.forward(X[i:i + batch]).argmax(axis=1) for i in range(0, X.shape[0], batch)]
    model.train(was_training)
    p = array_module(preds[0]).concatenate(preds)
    wrong = int((p != y).sum())
    return {"error": wrong / X.shape[0], "wrong": wrong, "pred": p}


def _peak_rss_mb() -> Optional[float]:
    """Peak resident memory in MiB; None where Python has no ``resource`` module (Windows)."""
    try:
        import resource
    except ImportError:
        return None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (2**20 if sys.platform == "darwin" else 1024.0)   # bytes on macOS, KiB on Linux


def _rss_mb() -> Optional[float]:
    """Resident memory now (Linux), to show that nothing grows from epoch to epoch."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (OSError, ValueError, IndexError, AttributeError):   # no /proc, or no os.sysconf
        return None


def _writable_folder(out: Path) -> Path:
    """``out``, made if missing and checked writable: before the data loads, so that a folder
    that cannot be made or written costs no wait (nor, found at the first checkpoint, an epoch)."""
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ConfigError(f"output folder {out}: cannot create it ({e.strerror or e})") from e
    probe = out / f".minicirc-write-test-{os.getpid()}"
    try:
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as e:
        raise ConfigError(f"output folder {out}: cannot write in it ({e.strerror or e})") from e
    return out


def _load_data(c: TrainConfig, arch: Dict[str, Any], backend: Any) -> Tuple[Any, Any, Any]:
    """The (train, validation or None, test) sets of ``(images, labels)``, on ``backend``, each
    image shaped as the model takes it (``models.input_shape``: a row, or a 1 x 28 x 28 image)."""
    data = load_mnist(c.data, validation=c.validation, seed=c.seed, verify=None if c.verify else False)
    Xtr, ytr = data.train
    if Xtr.shape[1] != arch["d_in"]:
        raise DataError(f"{c.data or 'the bundled MNIST'}: images of {Xtr.shape[1]} pixels, the "
                        f"{describe(arch)} takes {arch['d_in']} (28 x 28)")
    if c.train_limit:
        Xtr, ytr = Xtr[: c.train_limit], ytr[: c.train_limit]
    return tuple(None if pair is None else (backend.asarray(as_input(pair[0], arch)), backend.asarray(pair[1]))
                 for pair in ((Xtr, ytr), data.val, data.test))      # type: ignore[return-value]


def as_input(X: Any, arch: Dict[str, Any]) -> Any:
    """Images ``X`` (N, 784) as the model ``arch`` describes takes them (a view, no copy)."""
    return X.reshape(X.shape[0], *input_shape(arch))


def make_optimizer(c: TrainConfig, model: Sequential) -> Any:
    """The optimizer ``c`` names (a resolved config), built on ``model``."""
    if c.optimizer == "sgd":
        return SGD(model, lr=c.lr, momentum=c.momentum, nesterov=c.nesterov, weight_decay=c.weight_decay)
    if c.optimizer == "adam":
        return Adam(model, lr=c.lr, weight_decay=c.weight_decay)
    return AdamW(model, lr=c.lr, weight_decay=c.weight_decay)   # "adamw": resolved() lets no other name through


def _dropouts(model: Sequential) -> List[Dropout]:
    return [layer for layer in model.modules() if isinstance(layer, Dropout)]


class Trainer:
    """Builds everything a run needs from a ``TrainConfig`` and runs it."""

    def __init__(self, config: TrainConfig, *, log: Callable[[str], None] = print,
                 progress: Optional[bool] = None) -> None:
        self.config = config.resolved()
        self.log = log
        self.progress = progress
        try:
            self._build()
        except (DataError, ConfigError):
            raise
        except ValueError as e:   # an option out of range or two that conflict, said by whoever saw it
            raise ConfigError(str(e)) from e

    def _build(self) -> None:
        c = self.config                  # checked and filled in by resolved()
        self.arch = c.architecture()
        slots = 2 if c.optimizer in ("adam", "adamw") else int(c.momentum > 0)
        too_large = memory_shortfall(self.arch, c.dtype, copies=2 + slots)   # before any allocation
        if too_large:
            fewer = "" if c.model == "cnn" else " or fewer layers"
            raise ConfigError(f"TrainConfig: {too_large}; choose a smaller hidden{fewer}")
        self.backend = get_backend(c.backend)
        self.out = _writable_folder(Path(c.out))
        files.remove_stale_temporaries(self.out)     # left by a run killed mid-write
        self.train_set, self.val_set, self.test_set = _load_data(c, self.arch, self.backend)
        model_seed, data_seed = np.random.SeedSequence(c.seed).spawn(2)
        self.model = build_model(self.arch, seed=int(model_seed.generate_state(1)[0]), dtype=c.dtype,
                               backend=self.backend)
        self.batches = Batches(*self.train_set, c.batch_size, seed=np.random.default_rng(data_seed))
        self.loss = SoftmaxCrossEntropy(check_labels=False)   # labels were validated on load
        self.opt = make_optimizer(c, self.model)
        self.schedule = SCHEDULES[c.schedule]
        self.total_steps = c.epochs * len(self.batches)
        self.step = 0          # optimizer steps taken
        self.epoch = 0         # epochs completed
        self.history: List[Dict[str, Any]] = []
        self._stop_requested = False
        self._saving = False
        #: The totals of an epoch cut short by Ctrl-C, saved with its checkpoint, so that the
        #: resumed epoch's record covers all of its batches.
        self._partial: Optional[Dict[str, Any]] = None
        #: (path, epochs complete, step) of the newest checkpoint known to hold finite weights:
        #: this run's last save, or the one it resumed from.
        self._last_good: Optional[Tuple[Path, int, int]] = None

    # -- checkpoints ------------------------------------------------------------
    def _meta(self) -> Dict[str, Any]:
        return {"arch": self.arch, "config": asdict(self.config), "epoch": self.epoch, "step": self.step,
                "seed": self.config.seed, "batches": self.batches.state(),
                "dropout_rng": [d.rng.bit_generator.state for d in _dropouts(self.model)],
                "optimizer": {"name": self.config.optimizer, "class": type(self.opt).__name__, "t": self.opt.t}, "history": self.history,
                "partial_epoch": self._partial}

    def save(self, path: Path) -> Path:
        with self._writing():
            saved = save_checkpoint(path, self.model, self._meta(), self.opt)
        self._last_good = (saved, self.epoch, self.step)
        return saved

    @contextlib.contextmanager
    def _writing(self) -> Iterator[None]:
        """While a checkpoint or snapshot is written, a second Ctrl-C waits for it to finish:
        the run stops right after, with the file complete (see ``_on_sigint``)."""
        self._saving = True
        try:
            yield
        finally:
            self._saving = False

    def resume(self, path: str) -> None:
        meta, arrays = read_training_checkpoint(path)       # every field checked: trusted below
        self._refuse_another_run(path, meta)
        load_into(self.model, arrays, path, optimizer=self.opt)
        if "optim/t" not in arrays:         # a checkpoint without it holds the step count here only
            self.opt.t = int(meta["optimizer"]["t"])
        self.batches.set_state(meta["batches"])
        for d, st in zip(_dropouts(self.model), meta["dropout_rng"]):
            d.rng.bit_generator.state = st
        self.epoch, self.step = int(meta["epoch"]), int(meta["step"])
        self.history = list(meta.get("history", []))
        self._partial = meta.get("partial_epoch")
        self._last_good = (Path(path), self.epoch, self.step)
        where = (f"continuing in epoch {self.epoch + 1}" if self.epoch < self.config.epochs
                 else "all of its epochs are done")
        self.log(f"resumed from {path}: {epochs_text(self.epoch)} complete, step {self.step}; {where}")

    def _refuse_another_run(self, path: str, meta: Dict[str, Any]) -> None:
        """A resumed run continues the checkpoint's: the same architecture, settings and data."""
        if meta.get("arch") != self.arch:
            raise CheckpointError(f"{path}: checkpoint is of architecture {meta.get('arch')}, "
                                  f"this run builds {self.arch}")
        saved = TrainConfig.from_dict(saved_config(meta)).resolved()
        differ = [k for k in RUN_SETTINGS if getattr(saved, k) != getattr(self.config, k)]
        # More epochs change nothing done so far only where the learning rate ignores the total.
        if differ == ["epochs"] and saved.schedule == "constant" and self.config.epochs > saved.epochs:
            differ = []
        if differ:
            said = ", ".join(f"{k}={getattr(saved, k)!r} (this run: {getattr(self.config, k)!r})" for k in differ)
            raise CheckpointError(f"{path}: checkpoint was trained with {said}; resuming continues the "
                                  f"same run, so these must match (on the command line, leave them out to take the "
                                  f"checkpoint's)")
        saved_n = meta.get("batches", {}).get("n")
        if saved_n != self.batches.n:       # another data folder may be given, not other data
            raise CheckpointError(f"{path}: checkpoint was trained on {saved_n} training images, this "
                                  f"run has {self.batches.n} (from {self.config.data or 'the bundled MNIST'}); "
                                  f"resuming needs the same data")

    # -- the loop -------------------------------------------------------------------
    def _on_sigint(self, signum: int, frame: Any) -> None:
        if self._stop_requested and not self._saving:   # a second Ctrl-C: stop now
            raise KeyboardInterrupt
        self._stop_requested = True         # in a save, the loop stops as soon as it is done

    def run(self) -> Dict[str, Any]:
        c = self.config
        self.log(f"minicirc {__version__}: {describe(self.arch)}, {self.model.num_params():,} trainable parameters "
                 f"({dense_equivalent_params(self.model):,} as dense), {c.optimizer} lr {c.lr:g}, "
                 f"{epochs_text(c.epochs)}, batch {c.batch_size}, backend {c.backend}, seed {c.seed}")
        if self.epoch >= c.epochs:
            self.log(f"nothing to train: the checkpoint already holds {epochs_text(self.epoch)} of {c.epochs}")
        ckpt = self.out / "checkpoint.npz"
        previous = signal.getsignal(signal.SIGINT)
        in_main = _is_main_thread()
        if in_main:
            signal.signal(signal.SIGINT, self._on_sigint)
        try:
            while self.epoch < c.epochs:
                # A diverging run overflows somewhere before its loss turns NaN; NumPy's warning
                # from deep inside a layer would come first and say less than the stop message
                # this loop gives (exit 3, the step, the last good checkpoint).
                with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
                    record = self._train_epoch()
                if record is None:          # Ctrl-C: the partial epoch is checkpointed
                    self.save(ckpt)
                    raise TrainingStopped(f"interrupted in epoch {self.epoch + 1} at step {self.step}; "
                                          f"checkpoint saved to {ckpt} (resume with --resume {ckpt})", 130)
                self.epoch += 1
                self.history.append(record)
                self.log(self._line(record))
                self.save(ckpt)
                if c.save_every and self.epoch % c.save_every == 0:
                    with self._writing():
                        files.copy(ckpt, self.out / f"epoch-{self.epoch:03d}.npz", "snapshot")
                if self._stop_requested and self.epoch < c.epochs:   # Ctrl-C in an epoch's last step
                    raise TrainingStopped(f"interrupted at the end of epoch {self.epoch} (step {self.step}); "
                                          f"checkpoint saved to {ckpt} (resume with --resume {ckpt})", 130)
        except KeyboardInterrupt:           # the second Ctrl-C, outside a save
            raise TrainingStopped(f"interrupted twice in epoch {self.epoch + 1}: stopped at once. "
                                  f"{self._last_good_text()}", 130) from None
        finally:
            if in_main:
                signal.signal(signal.SIGINT, previous)
        return self.finish()

    def _train_epoch(self) -> Optional[Dict[str, Any]]:
        """One pass over the training batches; None if Ctrl-C asked to stop mid-way."""
        self.model.train()
        start = time.perf_counter()
        bar = progress_bar(len(self.batches), f"epoch {self.epoch + 1}/{self.config.epochs}", self.progress)
        meter = EpochMeter(self.backend, self._partial)
        started_earlier = self._partial["seconds"] if self._partial else 0.0
        self._partial = None
        epoch = self.batches.epoch_index
        # On the host a read is free, so every step's loss is checked before its update, as a
        # NaN must not reach the weights. On a GPU each read waits for the queued work: read
        # once per epoch (or per progress-bar refresh), and the checkpoint on disk, from the
        # end of the last good epoch, is what a NaN found then falls back to.
        read_every = 1 if self.backend.on_host else (_BAR_EVERY if bar is not None else 0)
        for xb, yb in self.batches:
            self._step(xb, yb, meter, read_every)
            if bar is not None:
                bar.update(1)
                if self.step % _BAR_EVERY == 0:
                    bar.set_postfix(loss=f"{meter.loss:.4f}", acc=f"{1.0 - meter.error:.4f}")
            # Ctrl-C stops mid-epoch only while batches remain; in the last step the epoch is
            # complete, and is recorded and saved as such (else a resume would redo an epoch).
            if self._stop_requested and self.batches.epoch_index == epoch:
                break
        self._read(meter)                   # before any checkpoint: a NaN must not be saved
        self._check_weights()               # nor weights the last update made non-finite
        if bar is not None:
            bar.close()
        seconds = started_earlier + time.perf_counter() - start
        if self._stop_requested and self.batches.epoch_index == epoch:
            self._partial = {**meter.totals(), "seconds": seconds}
            return None
        return self._epoch_record(meter, seconds)

    def _step(self, xb: Any, yb: Any, meter: "EpochMeter", read_every: int) -> None:
        """``train_step`` at the schedule's learning rate, its loss and right answers metered."""
        c = self.config
        self.opt.lr = self.schedule(c.lr, self.step, self.total_steps, c.warmup)

        def count(value: Any, z: Any) -> None:          # between the loss and the update
            meter.add(self.step + 1, value, (z.argmax(axis=1) == yb).sum(), xb.shape[0])
            if read_every == 1:
                self._read(meter)           # raises TrainingStopped on a non-finite loss

        try:
            train_step(self.model, self.loss, self.opt, xb, yb, before_update=count)
        except NonFiniteError:              # a layer met NaN: the weights went non-finite
            meter.add(self.step + 1, math.nan, 0, xb.shape[0])
            self._read(meter)               # raises TrainingStopped, naming this step
        self.step += 1
        if read_every > 1 and self.step % read_every == 0:
            self._read(meter)

    def _epoch_record(self, meter: "EpochMeter", seconds: float) -> Dict[str, Any]:
        """The epoch's line of the history: training metrics, memory, and evaluation."""
        record = {"epoch": self.epoch + 1, "steps": self.step, "train_loss": meter.loss,
                  "train_error": meter.error, "seconds": seconds,
                  "samples_per_second": meter.seen / seconds, "lr_end": self.opt.lr, "rss_mb": _rss_mb(),
                  "peak_rss_mb": _peak_rss_mb()}
        if self.val_set is not None:
            record["val_error"] = evaluate(self.model, *self.val_set)["error"]
        record["test_error"] = evaluate(self.model, *self.test_set)["error"]
        return record

    def _read(self, meter: "EpochMeter") -> None:
        """Bring the pending metrics back; stop the run at the first non-finite loss."""
        bad = meter.read()
        if bad is not None:
            value, step = bad
            raise TrainingStopped(f"non-finite loss ({value}) in epoch {self.epoch + 1} at step {step}; "
                                  f"stopped. {self._last_good_text()} Try a smaller learning rate (--lr, TrainConfig.lr).", DIVERGED)

    def _check_weights(self) -> None:
        """Stop if the last update made a parameter NaN or infinite: no loss has seen it yet.

        Once per epoch (and before a Ctrl-C checkpoint), so that neither the evaluation nor the
        checkpoint meets such weights; on a GPU each parameter's check waits for the GPU once.
        """
        for name, p in self.model.named_parameters():
            if not self.backend.all_finite(p):
                raise TrainingStopped(f"parameter {name} is NaN or infinite after the update of step "
                                      f"{self.step} (epoch {self.epoch + 1}); stopped. "
                                      f"{self._last_good_text()} Try a smaller learning rate (--lr, TrainConfig.lr).", DIVERGED)

    def _last_good_text(self) -> str:
        if self._last_good is None:
            return "No checkpoint was written: no epoch completed."
        path, epoch, step = self._last_good
        return f"Last good checkpoint: {path} ({epochs_text(epoch)} and {step} steps done)."

    def _line(self, r: Dict[str, Any]) -> str:
        val = f"  val err {100 * r['val_error']:.2f}%" if "val_error" in r else ""
        return (f"epoch {r['epoch']:>2}/{self.config.epochs}  loss {r['train_loss']:.4f}  "
                f"train err {100 * r['train_error']:.2f}%{val}  test err {100 * r['test_error']:.2f}%  "
                f"{r['seconds']:.1f}s  {r['samples_per_second']:,.0f} samples/s")

    def finish(self) -> Dict[str, Any]:
        """Write results.json (and the curves PNG); return the results."""
        c = self.config
        last = self.history[-1] if self.history else {}
        results = {
            "minicirc_version": __version__, "config": asdict(c), "arch": self.arch,
            "trainable_params": self.model.num_params(),
            "dense_equivalent_params": dense_equivalent_params(self.model),
            "layers": layer_table(self.model), "epochs": self.history,
            "final": {"test_error": last.get("test_error"), "val_error": last.get("val_error"),
                      "train_seconds": sum(r["seconds"] for r in self.history),
                      "seconds_per_epoch": (sum(r["seconds"] for r in self.history) / len(self.history)
                                            if self.history else None),
                      "peak_rss_mb": _peak_rss_mb()},
            "checkpoint": str(self.out / "checkpoint.npz"),
        }
        files.write_text(self.out / "results.json", json.dumps(results, indent=2), "results")
        if c.plot and self.history:
            from .plots import plot_curves

            plot_curves(self.history, self.out / "curves.png", title=f"{describe(self.arch)} (seed {c.seed})")
        if last:
            self.log(f"test error {100 * last['test_error']:.2f}% after {epochs_text(self.epoch)} "
                     f"({results['final']['train_seconds']:.0f} s of training); results in {self.out}")
        return results


def epochs_text(n: int) -> str:
    """``1 epoch``, ``3 epochs``."""
    return f"{n} epoch" if n == 1 else f"{n} epochs"


#: Steps between progress-bar refreshes (and, on a GPU with a bar, metric reads).
_BAR_EVERY = 20


def _is_main_thread() -> bool:
    # signal.signal may only be called from the main thread (a notebook's worker thread is not).
    return threading.current_thread() is threading.main_thread()


def train(config: TrainConfig, *, resume: Optional[str] = None, log: Callable[[str], None] = print,
          progress: Optional[bool] = None) -> Dict[str, Any]:
    """Train as ``minicirc train`` does; return the results dict (also in results.json)."""
    trainer = Trainer(config, log=log, progress=progress)
    if resume:
        trainer.resume(resume)
    return trainer.run()
