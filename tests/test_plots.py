"""Plots: written without a display, without touching pyplot's state, zero errors included."""
import pytest

from minicirc.mnist.plots import plot_curves


def history(train_errors):
    return [{"epoch": i + 1, "train_loss": 1.0 / (i + 1), "train_error": e, "test_error": 0.02}
            for i, e in enumerate(train_errors)]


def test_a_zero_error_stays_on_the_plot(tmp_path, monkeypatch):
    import minicirc.mnist.plots as plots

    made = []
    original = plots.figure
    monkeypatch.setattr(plots, "figure", lambda **kw: made.append(original(**kw)) or made[-1])
    plot_curves(history([0.1, 0.01, 0.0]), tmp_path / "c.png", title="t")
    assert (tmp_path / "c.png").stat().st_size > 1000
    errors_axis = made[0].axes[1]
    # a log axis cannot reach 0, so it would drop the last point: the axis must include it
    assert min(errors_axis.get_ylim()) <= 0.0


def test_curves_leave_pyplot_alone(tmp_path):
    import matplotlib
    import matplotlib.pyplot as plt

    before = matplotlib.get_backend()
    plt.switch_backend("pdf")                          # the caller's choice, not Agg
    try:
        figures = plt.get_fignums()
        plot_curves(history([0.1, 0.05]), tmp_path / "c.png")
        assert matplotlib.get_backend() == "pdf" and plt.get_fignums() == figures
    finally:
        plt.switch_backend(before)


def test_an_empty_history_is_refused_by_name(tmp_path):
    with pytest.raises(ValueError, match="no epochs to plot"):
        plot_curves([], tmp_path / "c.png")
