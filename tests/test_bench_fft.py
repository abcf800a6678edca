"""The transform benchmark runs, times every implementation and writes its table."""
import json

from benchmarks import fft


def test_fft_benchmark_smoke(tmp_path):
    results = fft.main(["--sizes", "64,128", "--batch", "4", "--calls", "5", "--budget", "0.01",
                        "--out", str(tmp_path)])
    assert [r["n"] for r in results] == [64, 128]
    for r in results:
        assert {"scipy-1w", "scipy-2w"} <= set(r["times"]) and all(v["median_ms"] > 0 for v in r["times"].values())
    saved = json.loads((tmp_path / "fft_bench.json").read_text())
    assert saved["meta"]["argv"][:2] == ["--sizes", "64,128"]
    assert "scipy-1w / torch-1t" in (tmp_path / "fft_bench.md").read_text()
