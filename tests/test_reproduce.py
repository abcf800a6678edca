"""The reproduction script, on a tiny budget: it trains each model per seed and writes the table."""
import json

import pytest

from minicirc.mnist.reproduce import main


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
    for r in rows:                                   # an MLP is all fully-connected
        assert r["total_params"] == r["fc_params"] and r["total_compression"] == r["compression"]
    assert all(len(r["test_errors"]) == 2 for r in rows)
    for r in rows:
        assert f"{r['test_error_mean']:.2f} +- {r['test_error_std']:.2f}" in text
    assert (tmp_path / "mnist.png").stat().st_size > 1000
    assert (tmp_path / "runs" / "circulant-seed1" / "results.json").is_file()
    for r in rows:                                   # one epoch each: stalled or not, counted per run
        assert len(r["stalled_epochs"]) == 2 and set(r["stalled_epochs"]) <= {0, 1}
        assert f"| {sum(r['stalled_epochs'])} of 2 ({sum(r['stalled_epochs'])}) |" in text


def test_stalled_epochs_are_counted_per_run():
    from minicirc.mnist.reproduce import DEFAULT_MODELS, EXPERIMENTS, summarise

    def run(train_errors):
        return {"final": {"test_error": 0.03, "seconds_per_epoch": 1.0},
                "layers": [{"params": 10, "fully_connected": True, "dense_equivalent": 100}],
                "dense_equivalent_params": 100, "config": dict.fromkeys(
                    ("optimizer", "lr", "weight_decay", "dropout", "batch_size"), 0),
                "epochs": [{"train_error": e} for e in train_errors]}
    (row,) = summarise({"x": [run([0.9, 0.89, 0.1]), run([0.2, 0.1, 0.05]), run([0.88, 0.04, 0.03])]})
    assert row["stalled_epochs"] == [2, 0, 1]
    assert "circulant-no-D-lr3e-3" in EXPERIMENTS and "circulant-no-D-lr3e-3" not in DEFAULT_MODELS


@pytest.mark.filterwarnings("ignore:overflow:RuntimeWarning")
def test_a_diverged_run_is_listed_and_the_sweep_goes_on(tmp_path, monkeypatch):
    from minicirc.mnist import reproduce

    monkeypatch.setitem(reproduce.EXPERIMENTS, "diverges", {"model": "dense", "hidden": 32, "lr": 1e30})
    monkeypatch.setitem(reproduce.EXPERIMENTS, "small", {"model": "dense", "hidden": 32})
    doc = tmp_path / "new" / "folder" / "mnist.md"               # a folder that does not exist yet
    assert main(["--models", "diverges", "small", "--seeds", "0", "--epochs", "1", "--train-limit", "300",
                 "--out", str(tmp_path / "runs"), "--doc", str(doc)]) == 0
    text = doc.read_text()
    assert "| diverges | - | - | - | - | - | seed 0 diverged |" in text
    rows = {r["name"]: r for r in json.loads((tmp_path / "runs" / "summary.json").read_text())}
    assert rows["diverges"]["diverged_seeds"] == [0] and len(rows["small"]["test_errors"]) == 1


def test_ctrl_c_stops_the_sweep_and_leaves_the_document_alone(tmp_path, monkeypatch):
    from minicirc.mnist import reproduce
    from minicirc.mnist.train import TrainingStopped

    doc = tmp_path / "mnist.md"
    doc.write_text("the last full sweep\n")

    def interrupted(cfg, **kw):
        raise TrainingStopped("interrupted in epoch 1 at step 3; checkpoint saved", 130)

    monkeypatch.setattr("minicirc.mnist.train.train", interrupted)
    assert reproduce.main(["--models", "dense", "--seeds", "0", "--out", str(tmp_path / "runs"),
                           "--doc", str(doc)]) == 130
    assert doc.read_text() == "the last full sweep\n"


def test_bad_options_are_refused():
    for bad in (["--epochs", "0"], ["--train-limit", "0"], ["--backend", "tpu"], ["--seeds", "-1"]):
        with pytest.raises(SystemExit) as info:
            main(bad)
        assert info.value.code == 2


def test_ctrl_c_between_runs_is_a_clean_stop_too(tmp_path, monkeypatch):
    from minicirc.mnist import reproduce

    def interrupted(cfg, **kw):
        raise KeyboardInterrupt                       # while a Trainer is built: no handler yet

    monkeypatch.setattr("minicirc.mnist.train.train", interrupted)
    assert reproduce.main(["--models", "dense", "--seeds", "0", "--out", str(tmp_path / "runs"),
                           "--doc", str(tmp_path / "mnist.md")]) == 130
    assert not (tmp_path / "mnist.md").exists()


def stand_in_train(cfg, **kw):
    """The results ``train`` returns, without training: the model's real layer table, and a
    test error of 1% + 1% per seed."""
    from dataclasses import asdict

    from minicirc.mnist.models import build_model, dense_equivalent_params, layer_table

    c = cfg.resolved()
    model = build_model(c.architecture())
    return {"config": asdict(c), "layers": layer_table(model), "dense_equivalent_params": dense_equivalent_params(model),
            "final": {"test_error": 0.01 * (1 + c.seed), "seconds_per_epoch": 2.0}, "epochs": [{"train_error": 0.1}]}


def test_the_cnn_group_writes_its_own_table_with_both_compressions(tmp_path, monkeypatch):
    from minicirc.mnist import reproduce

    monkeypatch.setattr("minicirc.mnist.train.train", stand_in_train)
    monkeypatch.chdir(tmp_path)                      # the default --doc, relative to here
    assert reproduce.main(["--models", "cnn", "--seeds", "0", "1", "--out", "runs"]) == 0
    assert not (tmp_path / "docs" / "results" / "mnist.md").exists()       # the MLPs' table untouched
    text = (tmp_path / "docs" / "results" / "mnist-cnn.md").read_text()
    rows = {r["name"]: r for r in json.loads((tmp_path / "runs" / "summary.json").read_text())}
    assert list(rows) == ["cnn-dense", "cnn-circulant", "cnn-circulant-no-D", "cnn-block-100"]
    conv, out = 25_570, 5_010
    fc = {"cnn-dense": 400_500 + out, "cnn-circulant": 1_300 + out, "cnn-circulant-no-D": 1_300 + out,
          "cnn-block-100": 40 * 100 + 500 + out}
    for name, r in rows.items():
        assert (r["fc_params"], r["total_params"]) == (fc[name], conv + fc[name]), name
        assert r["compression"] == pytest.approx(fc["cnn-dense"] / fc[name])
        assert r["total_compression"] == pytest.approx((conv + fc["cnn-dense"]) / (conv + fc[name]))
        assert r["test_errors"] == [1.0, 2.0] and r["seconds_per_epoch"] == 2.0
        assert (f"| {name} | {fc[name]:,} | {conv + fc[name]:,} | {r['compression']:.1f}x | "
                f"{r['total_compression']:.1f}x | 1.50 +- 0.71 | 1.00, 2.00 | 0 of 2 (0) | 2.0 | adamw,") in text
    assert "| cnn-circulant | 6,310 | 31,880 | 64.3x | 13.5x |" in text


def test_groups_expand_in_order_each_experiment_once():
    from minicirc.mnist.reproduce import DEFAULT_MODELS, EXPERIMENTS, GROUPS, expand

    assert expand(["mlp"]) == DEFAULT_MODELS
    assert expand(["cnn-circulant", "cnn", "dense"]) == ["cnn-circulant", "cnn-dense", "cnn-circulant-no-D",
                                                         "cnn-block-100", "dense"]
    assert all(n in EXPERIMENTS for members in GROUPS.values() for n in members)
    assert not set(GROUPS["cnn"]) & set(DEFAULT_MODELS)           # a default sweep trains no CNN
    assert EXPERIMENTS["cnn-circulant-no-D"] == {"model": "cnn", "head": "circulant", "sign_flip": False}


def test_reuse_reads_finished_runs_with_the_same_settings_and_trains_the_rest(tmp_path, monkeypatch):
    """--reuse: a run whose results.json in --out has this run's settings is read, not trained;
    one with other settings (another lr), a damaged file, or no file is trained. The document
    says how many were reused; without --reuse every run trains."""
    from minicirc.mnist import reproduce

    trained = []

    def counting_train(cfg, **kw):
        trained.append(cfg.seed)
        res = stand_in_train(cfg)
        (tmp_path / "runs" / f"cnn-circulant-seed{cfg.seed}").mkdir(parents=True, exist_ok=True)
        (tmp_path / "runs" / f"cnn-circulant-seed{cfg.seed}" / "results.json").write_text(json.dumps(res))
        return res

    monkeypatch.setattr("minicirc.mnist.train.train", counting_train)
    argv = ["--models", "cnn-circulant", "--out", str(tmp_path / "runs"), "--doc", str(tmp_path / "cnn.md")]
    assert reproduce.main(argv + ["--seeds", "0", "1", "2"]) == 0 and trained == [0, 1, 2]
    runs = tmp_path / "runs"
    other = json.loads((runs / "cnn-circulant-seed1" / "results.json").read_text())
    other["config"]["lr"] = 0.5                                   # made with other settings
    (runs / "cnn-circulant-seed1" / "results.json").write_text(json.dumps(other))
    (runs / "cnn-circulant-seed2" / "results.json").write_text("{not json")   # damaged
    trained.clear()
    assert reproduce.main(argv + ["--seeds", "0", "1", "2", "3", "--reuse"]) == 0
    assert trained == [1, 2, 3]                                   # seed 0 reused
    text = (tmp_path / "cnn.md").read_text()
    assert "1 of the 4 runs were reused (`--reuse`)" in text and "--reuse" in text
    (row,) = json.loads((runs / "summary.json").read_text())
    assert row["test_errors"] == [1.0, 2.0, 3.0, 4.0] and row["reused"] == 1
    trained.clear()
    assert reproduce.main(argv + ["--seeds", "0"]) == 0 and trained == [0]     # no --reuse: trains
    assert "reused" not in (tmp_path / "cnn.md").read_text()
