"""benchmarks.gpu_graph without a GPU: its command line and its report (the timing is the GPU's)."""
import pytest

from benchmarks import gpu_graph


def test_defaults_are_the_issue_sizes():
    a = gpu_graph.parse_args([])
    assert (a.batch, a.n, a.parts) == (1024, 4096, ["layer", "epoch"])
    assert set(a.impls) == set(gpu_graph.LAYER_IMPLS + gpu_graph.EPOCH_IMPLS)
    q = gpu_graph.parse_args(["--quick"])
    assert (q.batch, q.n, q.repeats, q.train_limit) == (128, 1024, 1, 3000)


@pytest.mark.parametrize("argv", [["--parts", "layer,train"], ["--impls", "epoch-eager,epoch-jax"]])
def test_bad_arguments_are_usage_errors(argv, capsys):
    with pytest.raises(SystemExit) as e:
        gpu_graph.parse_args(argv)
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert "--parts" in err or "unknown --impls" in err


def test_report_puts_each_figure_beside_its_ratios():
    layer = {"batch": 1024, "n": 4096, "errors": {"layer-graph-torch": "RuntimeError: no"},
             "times": {"layer-eager": {"median_ms": 2.0}, "layer-graph": {"median_ms": 0.5},
                       "layer-torch": {"median_ms": 1.0}},
             "torch_vs_minicirc_y_max_rel": 4e-7, "graph_vs_eager_dr_max_rel": 0.0}
    epoch = {"median_s": {"epoch-eager": 15.0, "epoch-graph": 1.5, "epoch-torch": 3.0, "epoch-cpu": 2.0},
             "errors": {"epoch-graph-torch": "ValueError: x"}, "threads_cpu": 16,
             "graph_mean_loss_per_epoch": [0.3], "train_images": 60000}
    md = gpu_graph.report(layer, epoch)
    assert "| layer-graph | 0.5 | 0.50 |" in md
    assert "| layer-graph-torch | error: RuntimeError: no | |" in md
    assert "| epoch-graph | 1.50 | 0.50 | 0.10 |" in md
    assert "| epoch-graph-torch | error: ValueError: x | | |" in md
    assert "16 threads" in md
