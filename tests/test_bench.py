"""Benchmark scripts run (tiny sizes): they time, they compare, they write their tables."""
import json
import re
import signal
import statistics
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest

from benchmarks import block

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def keep_threads():
    """The benchmarks pin Numba's and PyTorch's threads for the whole process: put them back."""
    import numba

    try:
        import torch
    except ImportError:
        torch = None
    before = numba.get_num_threads(), torch.get_num_threads() if torch else None
    yield
    numba.set_num_threads(before[0])
    if torch is not None:
        torch.set_num_threads(before[1])


def test_block_benchmark_smoke(tmp_path, capsys):
    argv = ["--sizes", "32", "--blocks", "1,8", "--budget", "0.01", "--backends", "numpy", "--out", str(tmp_path)]
    assert block.main(argv) == 0
    report = json.loads((tmp_path / "block_bench.json").read_text())
    rows = report["results"]
    names = {r["impl"] for r in rows}
    assert names == {"block-1/numpy", "block-8/numpy", "circulant (k=32)/numpy", "dense (k=1 twin)/numpy"}
    params = {r["impl"]: r["params"] for r in rows}
    assert params["block-8/numpy"] == 32 * 32 // 8 + 32 and params["block-1/numpy"] == params["dense (k=1 twin)/numpy"]
    assert all(r["median_ms"] > 0 for r in rows)
    dense = next(r for r in rows if r["impl"] == "dense (k=1 twin)/numpy")
    assert all(r["ratio_vs_dense"] == pytest.approx(r["median_ms"] / dense["median_ms"]) for r in rows)
    # the report says how it was made: the command, versions, threads
    assert report["meta"]["argv"] == argv and report["meta"]["threads"]["numba"] >= 1
    md = (tmp_path / "block_bench.md").read_text()
    assert "python -m benchmarks.block --sizes 32" in md and '"numpy": "' in md
    assert "ratio to dense" in md and "| 1.00 |" in md
    assert "threads in use: numba" in capsys.readouterr().out


@pytest.mark.parametrize("argv", [["--backends", ","], ["--backends", "numpy,numpy"], ["--batch", "0"],
                                  ["--budget", "-1"], ["--sizes", "0"]])
def test_block_benchmark_refuses_bad_options(argv, capsys):
    with pytest.raises(SystemExit) as e:
        block.main(argv)
    assert e.value.code == 2 and "error: argument" in capsys.readouterr().err


def test_epoch_benchmark_smoke(tmp_path, keep_threads, capsys):
    pytest.importorskip("torch", reason="PyTorch is the benchmark's reference (pip install torch)")
    from benchmarks import epoch

    argv = ["--models", "circulant", "--backends", "numpy", "numba", "--repeats", "2", "--threads", "1",
            "--train-limit", "512", "--out", str(tmp_path)]
    assert epoch.main(argv) == 0
    report = json.loads((tmp_path / "epoch_bench.json").read_text())
    rows = report["results"]
    assert {r["impl"] for r in rows} == {"minicirc-numpy", "minicirc-numba", "pytorch"}
    torch_median = next(r["median_s"] for r in rows if r["impl"] == "pytorch")
    for r in rows:
        assert len(r["runs"]) == 2 and all(t > 0 for t in r["runs"])
        assert r["median_s"] > 0 and r["median_s"] == statistics.median(r["runs"])
        assert r["ratio_vs_pytorch"] == pytest.approx(r["median_s"] / torch_median, rel=1e-12)
    # --threads 1 reaches PyTorch, Numba and minicirc's numba backend, and is recorded
    meta = report["meta"]
    assert meta["threads"]["numba"] == 1 and meta["threads"]["torch"] == 1
    assert meta["numba_backend_workers"] == 1 and meta["argv"] == argv
    assert {r["impl"]: r["numba_backend_workers"] for r in rows}["minicirc-numba"] == 1
    md = (tmp_path / "epoch_bench.md").read_text()
    assert "python -m benchmarks.epoch --models circulant" in md and "| circulant | pytorch |" in md
    assert capsys.readouterr().out.count("threads in use: numba 1, torch 1") == 1


def test_epoch_full_writes_the_accuracy_report(tmp_path, monkeypatch, keep_threads):
    pytest.importorskip("torch", reason="PyTorch is the benchmark's reference (pip install torch)")
    from benchmarks import epoch

    rows = [{"model": "hybrid", "seeds": [0], "test_errors": [1.5], "mean": 1.5, "std": 0.0}]
    monkeypatch.setattr(epoch, "torch_accuracy", lambda kinds, seeds, threads, epochs: rows)
    assert epoch.main(["--full", "--models", "hybrid", "--seeds", "0", "--threads", "1", "--out", str(tmp_path)]) == 0
    report = json.loads((tmp_path / "pytorch_accuracy.json").read_text())
    assert report["results"] == rows and report["meta"]["threads"]["torch"] == 1
    assert "| hybrid | 1.50 +- 0.00 | 1.50 |" in (tmp_path / "pytorch_accuracy.md").read_text()


@pytest.mark.parametrize("module, argv, message", [
    ("epoch", ["--models", "block"], "unknown model 'block'; choose from circulant, dense, hybrid"),
    ("epoch", ["--models", "dense", "dense"], "model 'dense' given twice"),
    ("epoch", ["--backends", "numpy", "numpy"], "backend 'numpy' given twice"),
    ("epoch", ["--backends", "cuda"], "unknown backend 'cuda'"),
    ("epoch", ["--repeats", "0"], "expected a positive integer"),
    ("epoch", ["--threads", "0"], "expected a positive integer"),
    ("layer", ["--backends", ","], "no backend given"),
    ("layer", ["--backends", "numpy,numpy"], "backend 'numpy' given twice"),
    ("layer", ["--backends", "cuda"], "unknown backend 'cuda'"),
    ("layer", ["--per-round", "0"], "--per-round: expected a positive integer, got 0"),
    ("layer", ["--per-round", "-2"], "--per-round: expected a positive integer, got -2"),
    ("layer", ["--repeats", "0"], "--repeats: expected a positive integer, got 0"),
    ("layer", ["--threads", "0"], "--threads: expected a positive integer, got 0"),
    ("layer", ["--budget", "-1"], "--budget: expected a number >= 0, got -1"),
    ("layer", ["--sizes", "0"], "--sizes: expected a positive integer"),
    ("layer", ["--dtypes", "float16"], "unknown dtype 'float16'"),
])
def test_benchmarks_refuse_bad_options(module, argv, message, capsys):
    import importlib

    with pytest.raises(SystemExit) as e:
        importlib.import_module(f"benchmarks.{module}").parse_args(argv)
    assert e.value.code == 2 and message in capsys.readouterr().err


@pytest.mark.parametrize("kind", ["circulant", "dense", "hybrid"])
def test_every_epoch_model_has_a_pytorch_twin_that_computes_the_same(kind):
    torch = pytest.importorskip("torch", reason="PyTorch is the benchmark's reference (pip install torch)")
    from benchmarks.epoch import TWINS
    from benchmarks.torch_models import TorchCirculant, build_torch_mlp
    from minicirc.mnist.models import architecture, build_mlp

    assert kind in TWINS and set(TWINS) == {"circulant", "dense", "hybrid"}
    arch = architecture(kind, hidden=48, layers=2, d_in=30)
    ours = build_mlp(arch, seed=0, dtype=np.float64)
    twin = build_torch_mlp(arch, seed=0).double()
    theirs = [m for m in twin if isinstance(m, (TorchCirculant, torch.nn.Linear))]
    mine = [layer for layer in ours.layers if layer.params]
    assert [type(m).__name__ for m in theirs] == [{"Circulant": "TorchCirculant", "Dense": "Linear"}[type(l).__name__]
                                                  for l in mine]
    assert sum(p.numel() for p in twin.parameters()) == ours.num_params()
    with torch.no_grad():
        for a, b in zip(mine, theirs):
            if isinstance(b, TorchCirculant):
                b.r.copy_(torch.from_numpy(a.params["r"]))
                b.b.copy_(torch.from_numpy(a.params["b"]))
                b.s.copy_(torch.from_numpy(a.signs[: a.d_in].astype(np.float64)))
            else:
                b.weight.copy_(torch.from_numpy(a.params["W"].T))
                b.bias.copy_(torch.from_numpy(a.params["b"]))
    x = np.random.default_rng(1).standard_normal((4, 30))
    want = ours.eval().forward(x)
    got = twin.eval()(torch.from_numpy(x)).detach().numpy()
    assert np.abs(got - want).max() < 1e-10 * np.abs(want).max()


def test_profile_train_smoke(capsys):
    from benchmarks import profile_train

    assert profile_train.main(["--steps", "3", "--top", "5"]) == 0
    out = capsys.readouterr().out
    assert "ms per step" in out and out.count("\n| `") == 5


def test_profile_train_divides_by_the_steps_it_took(monkeypatch, capsys):
    """More --steps than one epoch's batches (469 on MNIST; 5 here) runs one epoch: the time
    per step is over the steps taken, not over the steps asked."""
    from benchmarks import profile_train
    from minicirc.batches import Batches

    class FiveBatches(profile_train.TrainingRun):
        def __init__(self, config):
            super().__init__(config)
            X, y = self.batches.X, self.batches.y
            self.batches = Batches(X[:5 * 128], y[:5 * 128], 128, seed=np.random.default_rng(0))

    runs = []

    def spy(trainer):
        runs.append(real(trainer))
        return runs[-1]

    real = profile_train.profile
    monkeypatch.setattr(profile_train, "TrainingRun", FiveBatches)
    monkeypatch.setattr(profile_train, "profile", spy)
    assert profile_train.main(["--steps", "20", "--top", "3"]) == 0
    captured = capsys.readouterr()
    assert runs[0]["steps"] == 5
    assert f"{1e3 * runs[0]['seconds'] / 5:.2f} ms per step (5 steps in" in captured.out
    assert "--steps 20 asked, but one epoch has 5 batches" in captured.out


def test_profile_train_block_needs_its_block_size(capsys):
    from benchmarks import profile_train

    with pytest.raises(SystemExit) as e:
        profile_train.main(["--model", "block"])
    assert e.value.code == 2 and "--model block needs --block K" in capsys.readouterr().err
    assert profile_train.main(["--model", "block", "--block", "64", "--steps", "2", "--top", "2"]) == 0
    assert "block MLP, backend numpy" in capsys.readouterr().out


# -- the layer benchmark: threads, agreement, options ----------------------------------------------

TINY = ["--sizes", "16,24", "--batches", "3", "--no-dense", "--repeats", "1", "--per-round", "1", "--budget", "0"]


def test_layer_benchmark_agrees_with_pytorch(tmp_path, keep_threads, capsys):
    pytest.importorskip("torch", reason="PyTorch is the benchmark's reference (pip install torch)")
    from benchmarks import layer

    results = layer.run(TINY + ["--dtypes", "float32,float64", "--threads", "1", "--out", str(tmp_path)])
    assert len(results) == 4
    for r in results:
        diffs = r["max_rel_diff_vs_circ-numpy"]
        assert set(diffs) == {"circ-numba", "circ-torch"} and r["agrees"]
        assert max(diffs.values()) < {"float32": 1e-5, "float64": 1e-13}[r["dtype"]]
    out = capsys.readouterr().out
    assert "agreement (vs circ-numpy) |" in out and "DISAGREES" not in out
    assert out.count("threads in use: numba 1, torch 1") == 1
    meta = json.loads((tmp_path / "layer_bench.json").read_text())["meta"]
    assert meta["threads"]["numba"] == 1 and meta["threads"]["torch"] == 1


def test_layer_benchmark_flags_a_reference_that_disagrees(monkeypatch, keep_threads, capsys):
    pytest.importorskip("torch", reason="PyTorch is the benchmark's reference (pip install torch)")
    from benchmarks import layer

    real = layer.torch_circulant_step

    def twice_y(torch, lay, x, dy, device="cpu"):
        step = real(torch, lay, x, dy, device)

        def wrong():
            y, dx, grads = step()
            return 2 * y, dx, grads
        return wrong

    monkeypatch.setattr(layer, "torch_circulant_step", twice_y)
    assert layer.main(TINY + ["--backends", "numpy", "--dtypes", "float32"]) == 1
    captured = capsys.readouterr()
    rows = [line for line in captured.out.splitlines() if line.startswith("| float32 |")]
    assert len(rows) == 2 and all("**DISAGREES**: circ-torch 1.0e+00" in row for row in rows)
    assert "DISAGREES: 2 of 2 configurations" in captured.err


def test_layer_benchmark_records_blas_threads_from_the_environment(monkeypatch):
    from benchmarks.timing import describe_threads, threads_in_use

    for name in ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "OMP_NUM_THREADS"):
        monkeypatch.delenv(name, raising=False)
    assert threads_in_use()["blas"] is None and "BLAS not pinned" in describe_threads(threads_in_use())
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "2")          # OpenBLAS reads this one first
    t = threads_in_use()
    assert (t["blas"], t["blas_env"]) == (2, "OPENBLAS_NUM_THREADS")
    assert "NumPy's BLAS 2 (OPENBLAS_NUM_THREADS)" in describe_threads(t)


def test_layer_benchmark_says_pytorch_was_left_out(keep_threads, capsys):
    from benchmarks import layer

    assert layer.main(["--sizes", "8", "--batches", "2", "--dtypes", "float32", "--no-torch", "--no-dense",
                     "--repeats", "1", "--per-round", "1", "--budget", "0"]) == 0
    out = capsys.readouterr().out
    assert "PyTorch left out (--no-torch)" in out and "not installed" not in out


def test_cpu_all_pins_every_librarys_threads_before_python_starts():
    text = (ROOT / "benchmarks" / "cpu_all.sh").read_text().replace("\\\n", " ")   # join continued lines
    lines = [line.split("#")[0].strip() for line in text.splitlines()]
    first_python = next(i for i, line in enumerate(lines) if re.search(r"\bpython\b", line))
    exported = {name for line in lines[:first_python] if line.startswith("export ")
                for name in re.findall(r"(\w+)=\$THREADS\b", line)}
    assert exported >= {"OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"}
    # the machine description records the load and the cores
    machine = lines[first_python - 6: first_python + 3]
    assert any("$(uptime)" in line for line in machine) and any("$(nproc)" in line for line in machine)
    assert any('tee "$OUT/machine.txt"' in line for line in lines)
    for line in lines:
        if re.search(r"benchmarks\.(layer|epoch|cnn_epoch)\b", line):
            # every library on the script's threads, or all of them on one (the one-thread row)
            one = all(f"{v}=1" in line for v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                                                 "NUMBA_NUM_THREADS")) and "--threads 1" in line
            assert '--threads "$THREADS"' in line or one, line



# -- the shared timer: interleaved blocks, budgets, failures --------------------------------------

def _recording_steps(names, log):
    def make(name):
        def step():
            log.append(name)
        return step
    return {name: make(name) for name in names}


def test_round_robin_interleaves_blocks_of_calls():
    from benchmarks.timing import round_robin

    log = []
    times = round_robin(_recording_steps("ab", log), calls=6, per_round=2, budget=1e9, warmup=1)
    # one warm-up and one sizing call each, then turns of two calls: a drift in the machine
    # during the timed part falls on both alike (timed one after the other, it would not)
    assert log == ["a", "a", "b", "b"] + ["a", "a", "b", "b"] * 3
    assert times["a"]["calls"] == times["b"]["calls"] == 6


def test_round_robin_uses_each_steps_timer_and_its_budget():
    from benchmarks.timing import round_robin

    def fixed(seconds):
        return lambda step, calls: [step() or seconds for _ in range(calls)]

    log = []
    times = round_robin(_recording_steps(["fast", "slow"], log), calls=50, per_round=5, budget=2.5,
                        timers={"fast": fixed(0.002), "slow": fixed(1.0)}, warmup=0, min_calls=3)
    assert times["fast"]["median_ms"] == pytest.approx(2.0) and times["fast"]["calls"] == 50
    # 2.5 s of budget buys two 1-s calls, but a median needs at least min_calls of them
    assert times["slow"]["median_ms"] == pytest.approx(1000.0) and times["slow"]["calls"] == 3
    assert log.count("slow") == 1 + 3


@contextmanager
def at_most(seconds):
    """Raise in the test rather than hang it, should the code under test loop forever."""
    def stop(signum, frame):
        raise TimeoutError(f"still running after {seconds} s")

    previous = signal.signal(signal.SIGALRM, stop)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


@pytest.mark.parametrize("bad, message", [
    ({"per_round": 0}, "per_round must be a positive integer, got 0"),
    ({"per_round": -1}, "per_round must be a positive integer, got -1"),
    ({"calls": 0}, "calls must be a positive integer, got 0"),
    ({"min_calls": 0}, "min_calls must be a positive integer, got 0"),
    ({"budget": -1.0}, "budget must be >= 0 seconds, got -1.0"),
    ({"budget": float("nan")}, "budget must be >= 0 seconds, got nan"),
])
def test_round_robin_refuses_counts_that_never_finish(bad, message):
    import gc

    from benchmarks.timing import round_robin

    log = []
    kwargs = {"calls": 4, "per_round": 2, "budget": 1.0, **bad}
    with at_most(10), pytest.raises(ValueError, match=re.escape(message)):
        round_robin(_recording_steps("ab", log), **kwargs)
    assert log == [] and gc.isenabled()


def test_round_robin_reports_a_failing_step_and_times_the_rest():
    from benchmarks.timing import round_robin

    calls = {"n": 0}

    def flaky():
        calls["n"] += 1
        if calls["n"] == 4:
            raise RuntimeError("out of memory")

    steps = {"ok": lambda: None, "flaky": flaky}
    errors = {}
    times = round_robin(steps, calls=6, per_round=2, budget=1e9, errors=errors)
    assert set(times) == {"ok"} and times["ok"]["calls"] == 6
    assert errors == {"flaky": "RuntimeError: out of memory"}
    calls["n"] = 0
    with pytest.raises(RuntimeError, match="out of memory"):
        round_robin(steps, calls=6, per_round=2, budget=1e9)


def test_gpu_event_timer_reads_each_librarys_events_in_seconds():
    """The GPU benchmark's timer, with stand-in CuPy and PyTorch events on a fake clock."""
    from types import SimpleNamespace

    from benchmarks.gpu import event_timer

    clock = {"ms": 0.0}

    class Event:
        def __init__(self, enable_timing=True):
            self.at = None

        def record(self):
            self.at = clock["ms"]

        def synchronize(self):
            pass

        def elapsed_time(self, end):                  # PyTorch: milliseconds, on the start event
            return end.at - self.at

    cupy = SimpleNamespace(cuda=SimpleNamespace(Event=Event,
                                                get_elapsed_time=lambda s, e: e.at - s.at))
    torch = SimpleNamespace(cuda=SimpleNamespace(Event=Event, synchronize=lambda: None))

    def step_taking(ms):
        def step():
            clock["ms"] += ms
        return step

    assert event_timer(cupy, torch, "circ-cufft")(step_taking(2.0), 3) == pytest.approx([2e-3] * 3)
    assert event_timer(cupy, torch, "circ-torch")(step_taking(0.5), 2) == pytest.approx([5e-4] * 2)


def test_gpu_benchmark_agreement_survives_one_broken_implementation():
    from benchmarks.gpu import _agreement

    rng = np.random.default_rng(0)
    ref = [rng.standard_normal((3, 4)), rng.standard_normal((3, 4)), rng.standard_normal(4), rng.standard_normal(4)]

    def good(scale):
        return lambda: (ref[0] * scale, ref[1], {"r": ref[2], "b": ref[3]})

    def broken():
        raise AttributeError("'int' object has no attribute 'dtype'")

    errors = {}
    agree = _agreement({"circ-cufft": good(1.0), "circ-own": broken, "circ-torch": good(1.0 + 1e-6)}, errors)
    assert set(agree) == {"circ-torch"} and agree["circ-torch"] == pytest.approx(1e-6, rel=1e-3)
    assert errors == {"circ-own": "AttributeError: 'int' object has no attribute 'dtype'"}


def test_layer_benchmark_gives_back_the_callers_thread_count(tmp_path):
    import numba

    from benchmarks import layer

    before = numba.get_num_threads()
    layer.run(["--quick", "--sizes", "8", "--batches", "1", "--no-torch", "--no-dense", "--threads", "1",
               "--repeats", "1", "--per-round", "1", "--budget", "0"])
    assert numba.get_num_threads() == before


def test_gpu_benchmark_keeps_the_configurations_done_when_it_is_cut_short(tmp_path, monkeypatch):
    """gpu_check.sh runs the benchmark under a timeout: the report is rewritten, whole, after
    every configuration, so a run killed later keeps what it measured."""
    import sys
    from types import SimpleNamespace

    import minicirc.backends.cuda as cuda_backend
    from benchmarks import gpu

    monkeypatch.setattr(cuda_backend, "CudaBackend", lambda: None)
    monkeypatch.setitem(sys.modules, "cupy", SimpleNamespace())
    monkeypatch.setattr(gpu, "environment", lambda cupy, torch: {"device": "Stand-in GPU"})
    done = []

    def run_config(batch, n, args, cupy, torch):
        if done:
            raise KeyboardInterrupt                  # what the timeout's signal does, in effect
        done.append((batch, n))
        return {"dtype": "float32", "batch": batch, "n": n, "errors": {}, "skipped": {},
                "times": {"circ-cufft": {"median_ms": 2.0}, "circ-own": {"median_ms": 3.0}},
                "max_rel_diff_vs_circ-cufft": {}}

    monkeypatch.setattr(gpu, "run_config", run_config)
    with pytest.raises(KeyboardInterrupt):
        gpu.main(["--no-torch", "--impls", "circ-cufft,circ-own", "--out", str(tmp_path)])
    report = json.loads((tmp_path / "gpu_bench.json").read_text())
    assert [(r["batch"], r["n"]) for r in report["results"]] == done == [(128, 1024)]
    md = (tmp_path / "gpu_bench.md").read_text()
    assert "Stand-in GPU" in md and "| 128 | 1024 |" in md
    assert sorted(p.name for p in tmp_path.iterdir()) == ["gpu_bench.json", "gpu_bench.md"]


# -- where the benchmarks live, and what they time ----------------------------------------------

def test_the_package_never_imports_the_benchmarks():
    """The benchmarks are a folder of the repository, not of the installed package."""
    offenders = [str(p.relative_to(ROOT)) for p in (ROOT / "minicirc").rglob("*.py")
                 if re.search(r"^\s*(from|import)\s+benchmarks\b|minicirc\.bench\b", p.read_text(), re.M)]
    assert offenders == []
    assert not (ROOT / "minicirc" / "bench").exists()


def test_the_command_line_has_no_bench_command(capsys):
    from minicirc.mnist import cli

    with pytest.raises(SystemExit) as e:
        cli.main(["bench"])
    assert e.value.code == 2 and "invalid choice: 'bench'" in capsys.readouterr().err


def test_the_timed_epoch_trains_as_minicirc_train_does(tmp_path):
    """benchmarks.training writes the step loop out with public calls: one epoch of it must
    leave the weights a Trainer's epoch leaves, so the benchmarks time the real thing."""
    from benchmarks.training import TrainingRun
    from minicirc.mnist.config import TrainConfig
    from minicirc.mnist.train import Trainer

    cfg = dict(model="circulant", hidden=64, epochs=1, train_limit=300, batch_size=64, dtype="float64")
    run = TrainingRun(TrainConfig(**cfg))
    assert run.epoch() > 0 and run.step == 5
    trainer = Trainer(TrainConfig(**cfg, out=str(tmp_path), plot=False), log=lambda s: None, progress=False)
    trainer.run()
    assert trainer.step == run.step
    for (name, p), (_, q) in zip(run.model.named_parameters(), trainer.model.named_parameters()):
        np.testing.assert_array_equal(p, q, err_msg=name)


# -- the CNN: its epoch benchmark and its PyTorch twins' training ---------------------------------

def test_cnn_epoch_benchmark_smoke(tmp_path, keep_threads, capsys):
    pytest.importorskip("torch", reason="PyTorch is the benchmark's reference (pip install torch)")
    from benchmarks import cnn_epoch

    argv = ["--heads", "circulant", "dense", "--backends", "numpy", "numba", "--steps", "2", "--repeats", "2",
            "--batch", "16", "--settle", "0", "--threads", "1", "--train-limit", "64", "--out", str(tmp_path)]
    assert cnn_epoch.main(argv) == 0
    report = json.loads((tmp_path / "cnn_epoch_bench.json").read_text())
    rows = {(r["head"], r["impl"]): r for r in report["results"]}
    assert set(rows) == {(h, i) for h in ("circulant", "dense") for i in ("minicirc-numpy", "minicirc-numba", "pytorch")}
    for (head, impl), r in rows.items():
        assert r["blocks"] == 2 and r["steps_per_block"] == 2 and r["batch"] == 16
        assert len(r["block_seconds"]) == 2 and r["block_median_s"] == pytest.approx(statistics.median(r["block_seconds"]))
        # a block of 2 steps, extrapolated to the 3750 steps of 60,000 images in batches of 16
        assert r["epoch_s"] == pytest.approx(r["block_median_s"] * 3750 / 2, rel=1e-12) and r["epoch_s"] > 0
        assert r["epoch_p10_s"] <= r["epoch_s"] <= r["epoch_p90_s"]
        assert r["ratio_vs_pytorch"] == pytest.approx(r["epoch_s"] / rows[(head, "pytorch")]["epoch_s"], rel=1e-12)
        assert r["ratio_vs_dense_head"] == pytest.approx(r["epoch_s"] / rows[("dense", impl)]["epoch_s"], rel=1e-12)
    assert rows[("circulant", "minicirc-numba")]["numba_backend_workers"] == 1
    meta = report["meta"]
    assert meta["threads"]["numba"] == 1 and meta["threads"]["torch"] == 1 and meta["argv"] == argv
    assert "extrapolated to 3750 steps" in meta["timing"]
    md = (tmp_path / "cnn_epoch_bench.md").read_text()
    assert "python -m benchmarks.cnn_epoch --heads circulant dense" in md and "| circulant | pytorch |" in md
    assert capsys.readouterr().out.count("threads in use: numba 1, torch 1") == 1


def test_cnn_epoch_benchmark_times_the_steps_it_says(monkeypatch, keep_threads):
    """Every timed block runs --steps optimizer steps on each side, and the sides take turns."""
    pytest.importorskip("torch", reason="PyTorch is the benchmark's reference (pip install torch)")
    from benchmarks import cnn_epoch, cnn_runs

    log = []
    real = cnn_runs._Run.steps

    def spy(self, k):
        log.append((type(self).__name__, k))
        real(self, k)

    monkeypatch.setattr(cnn_runs._Run, "steps", spy)
    rows = cnn_epoch.time_cnn(["circulant"], ["numpy"], 3, 2, 1, settle=0, batch=8, train_limit=40)
    # one untimed block and one sizing block each, then two timed turns
    assert log == [("MinicircCNN", 3)] * 2 + [("TorchCNN", 3)] * 2 + [("MinicircCNN", 3), ("TorchCNN", 3)] * 2
    assert {r["impl"] for r in rows} == {"minicirc-numpy", "pytorch"}


@pytest.mark.parametrize("argv, message", [
    (["--heads", "block"], "--heads block needs --block K"),
    (["--heads", "conv"], "unknown head 'conv'"),
    (["--heads", "dense", "dense"], "head 'dense' given twice"),
    (["--steps", "0"], "--steps: expected a positive integer"),
    (["--settle", "-1"], "--settle: expected a number >= 0"),
])
def test_cnn_epoch_benchmark_refuses_bad_options(argv, message, capsys):
    from benchmarks import cnn_epoch

    with pytest.raises(SystemExit) as e:
        cnn_epoch.parse_args(argv)
    assert e.value.code == 2 and message in capsys.readouterr().err


def test_cnn_twins_smoke(tmp_path, keep_threads, capsys):
    pytest.importorskip("torch", reason="PyTorch is the benchmark's reference (pip install torch)")
    from benchmarks import cnn_twins

    argv = ["--heads", "circulant", "block", "--block", "100", "--seeds", "0", "1", "--epochs", "1",
            "--train-limit", "256", "--test-limit", "200", "--threads", "1", "--out", str(tmp_path)]
    assert cnn_twins.main(argv) == 0
    report = json.loads((tmp_path / "cnn_twins.json").read_text())
    rows = {r["head"]: r for r in report["results"]}
    assert set(rows) == {"circulant", "block"} and rows["block"]["block"] == 100
    for r in rows.values():
        assert r["seeds"] == [0, 1] and len(r["test_errors"]) == 2 and r["epochs"] == 1
        assert all(0 <= e <= 100 for e in r["test_errors"]) and r["test_images"] == 200
        assert r["mean"] == pytest.approx(statistics.mean(r["test_errors"]))
        assert r["std"] == pytest.approx(statistics.stdev(r["test_errors"]))       # the sample std
    meta = report["meta"]
    assert meta["threads"]["torch"] == 1 and meta["recipe"]["optimizer"] == "adamw" and meta["recipe"]["epochs"] == 1
    md = (tmp_path / "cnn_twins.md").read_text()
    assert "| block (k=100) |" in md and "python -m benchmarks.cnn_twins --heads circulant block" in md
    assert capsys.readouterr().out.count("pytorch cnn circulant seed ") == 2


def test_cnn_twin_trains_as_minicirc_does():
    """Same weights, batches, recipe and schedule (float64, no dropout): after a few AdamW steps
    at the cosine schedule's rates the twin's weights are minicirc's."""
    pytest.importorskip("torch", reason="PyTorch is the benchmark's reference (pip install torch)")
    from benchmarks.cnn_runs import MinicircCNN, TorchCNN, cnn_recipe
    from benchmarks.torch_models import copy_weights, twin_arrays

    rng = np.random.default_rng(0)
    X, y = rng.random((40, 784)).astype(np.float32), rng.integers(0, 10, 40)
    recipe = cnn_recipe(dropout=0.0, batch_size=16, epochs=2)
    ours = MinicircCNN("circulant", X, y, recipe, hidden=64, dtype=np.float64)
    twin = TorchCNN("circulant", X, y, recipe, hidden=64, dtype=np.float64)
    copy_weights(ours.model, twin.model)
    assert ours.total_steps == twin.total_steps == 6
    ours.steps(4)
    twin.steps(4)
    assert ours.opt.lr == twin.opt.param_groups[0]["lr"] == pytest.approx(recipe.lr * 0.5 * (1 + np.cos(np.pi * 3 / 6)))
    theirs = twin_arrays(ours.model, twin.model)
    for name, p in ours.model.named_parameters():
        scale = np.abs(p).max()
        np.testing.assert_allclose(theirs[name], p, rtol=0, atol=1e-9 * scale, err_msg=name)
    first = MinicircCNN("circulant", X, y, recipe, hidden=64, dtype=np.float64)
    moved = max(np.abs(p - dict(first.model.named_parameters())[n]).max() for n, p in ours.model.named_parameters())
    assert moved > 1e-4                            # they trained: the comparison is not of initial weights
