"""Benchmark scripts run (tiny sizes): they time, they compare, they write their tables."""
import json

import numpy as np
import pytest

from minicirc.bench import block


def test_block_benchmark_smoke(tmp_path):
    assert block.main(["--sizes", "32", "--blocks", "1,8", "--budget", "0.01", "--backends", "numpy",
                       "--out", str(tmp_path)]) == 0
    rows = json.loads((tmp_path / "block_bench.json").read_text())
    names = {r["impl"] for r in rows}
    assert names == {"block-1/numpy", "block-8/numpy", "circulant (k=32)/numpy", "dense (k=1 twin)/numpy"}
    params = {r["impl"]: r["params"] for r in rows}
    assert params["block-8/numpy"] == 32 * 32 // 8 + 32 and params["block-1/numpy"] == params["dense (k=1 twin)/numpy"]
    assert all(r["median_ms"] > 0 for r in rows)


def test_epoch_benchmark_smoke(tmp_path):
    pytest.importorskip("torch", reason="PyTorch is the benchmark's reference (pip install torch)")
    from minicirc.bench import epoch

    out = tmp_path / "epoch.json"
    assert epoch.main(["--models", "circulant", "--backends", "numpy", "--repeats", "1", "--threads", "1",
                       "--train-limit", "512", "--out", str(out)]) == 0
    rows = json.loads(out.read_text())
    assert {r["impl"] for r in rows} == {"minicirc-numpy", "pytorch"}


def test_profile_train_smoke(capsys):
    from minicirc.bench import profile_train

    assert profile_train.main(["--steps", "3", "--top", "5"]) == 0
    out = capsys.readouterr().out
    assert "ms per step" in out and out.count("\n| `") == 5


# -- the shared timer: interleaved blocks, budgets, failures --------------------------------------

def _recording_steps(names, log):
    def make(name):
        def step():
            log.append(name)
        return step
    return {name: make(name) for name in names}


def test_round_robin_interleaves_blocks_of_calls():
    from minicirc.bench.timing import round_robin

    log = []
    times = round_robin(_recording_steps("ab", log), calls=6, per_round=2, budget=1e9, warmup=1)
    # one warm-up and one sizing call each, then turns of two calls: a drift in the machine
    # during the timed part falls on both alike (timed one after the other, it would not)
    assert log == ["a", "a", "b", "b"] + ["a", "a", "b", "b"] * 3
    assert times["a"]["calls"] == times["b"]["calls"] == 6


def test_round_robin_uses_each_steps_timer_and_its_budget():
    from minicirc.bench.timing import round_robin

    def fixed(seconds):
        return lambda step, calls: [step() or seconds for _ in range(calls)]

    log = []
    times = round_robin(_recording_steps(["fast", "slow"], log), calls=50, per_round=5, budget=2.5,
                        timers={"fast": fixed(0.002), "slow": fixed(1.0)}, warmup=0, min_calls=3)
    assert times["fast"]["median_ms"] == pytest.approx(2.0) and times["fast"]["calls"] == 50
    # 2.5 s of budget buys two 1-s calls, but a median needs at least min_calls of them
    assert times["slow"]["median_ms"] == pytest.approx(1000.0) and times["slow"]["calls"] == 3
    assert log.count("slow") == 1 + 3


def test_round_robin_reports_a_failing_step_and_times_the_rest():
    from minicirc.bench.timing import round_robin

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

    from minicirc.bench.gpu import event_timer

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
    from minicirc.bench.gpu import _agreement

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
