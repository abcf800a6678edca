"""Benchmark scripts run (tiny sizes): they time, they compare, they write their tables."""
import json

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
