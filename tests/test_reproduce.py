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
    for r in rows:                                   # one epoch each: stalled or not, counted per run
        assert len(r["stalled_epochs"]) == 2 and set(r["stalled_epochs"]) <= {0, 1}
        assert f"| {sum(r['stalled_epochs'])} of 2 ({sum(r['stalled_epochs'])}) |" in text


def test_stalled_epochs_are_counted_per_run():
    from minicirc.reproduce import DEFAULT_MODELS, EXPERIMENTS, summarise

    def run(train_errors):
        return {"final": {"test_error": 0.03, "seconds_per_epoch": 1.0}, "layers": [{"params": 10}],
                "dense_equivalent_params": 100, "config": dict.fromkeys(
                    ("optimizer", "lr", "weight_decay", "dropout", "batch_size"), 0),
                "epochs": [{"train_error": e} for e in train_errors]}
    (row,) = summarise({"x": [run([0.9, 0.89, 0.1]), run([0.2, 0.1, 0.05]), run([0.88, 0.04, 0.03])]})
    assert row["stalled_epochs"] == [2, 0, 1]
    assert "circulant-no-D-lr3e-3" in EXPERIMENTS and "circulant-no-D-lr3e-3" not in DEFAULT_MODELS
