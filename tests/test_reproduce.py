"""The reproduction script, on a tiny budget: it trains each model per seed and writes the table."""
import json

from minicirc.reproduce import main


def test_reproduce_writes_table_and_plot(tmp_path):
    doc = tmp_path / "mnist.md"
    assert main(["--models", "dense", "circulant", "--seeds", "0", "1", "--epochs", "1", "--train-limit", "500",
                 "--out", str(tmp_path / "runs"), "--doc", str(doc)]) == 0
    text = doc.read_text()
    assert "minicirc reproduce --models dense circulant --seeds 0 1" in text
    rows = json.loads((tmp_path / "runs" / "summary.json").read_text())
    assert [r["name"] for r in rows] == ["dense", "circulant"]
    assert rows[0]["fc_params"] == 784 * 1024 + 1024 + 1024 * 1024 + 1024 + 1024 * 10 + 10
    assert rows[1]["compression"] > 100
    assert all(len(r["test_errors"]) == 2 for r in rows)
    for r in rows:
        assert f"{r['test_error_mean']:.2f} +- {r['test_error_std']:.2f}" in text
    assert (tmp_path / "mnist.png").stat().st_size > 1000
    assert (tmp_path / "runs" / "circulant-seed1" / "results.json").is_file()
