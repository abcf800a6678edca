"""Any value of any numeric train option: a one-line refusal (exit 2, with the usage), or a run
that gets as far as the data, never a traceback; a model no memory holds is refused with the size
it needs before anything is allocated."""
import os
import subprocess
import sys
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from minicirc.mnist.cli import main

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}

OPTIONS = ["--hidden", "--layers", "--block", "--dropout", "--lr", "--momentum", "--weight-decay", "--warmup",
           "--epochs", "--batch-size", "--seed", "--validation", "--train-limit", "--save-every"]
VALUES = st.one_of(st.integers(-2**70, 2**70).map(str), st.floats().map(repr), st.floats().map(str),
                   st.sampled_from(["", "nan", "inf", "-inf", "1e400", "0x10", "1_000", " 3", "4000000000",
                                    "10**9", "1.0", "-0"]),
                   st.text(max_size=6))


@settings(max_examples=150, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(given_options=st.lists(st.tuples(st.sampled_from(OPTIONS), VALUES), min_size=1, max_size=3),
       model=st.sampled_from(["dense", "circulant", "hybrid", "block"]))
def test_any_option_value_is_refused_in_one_line_or_reaches_the_data(tmp_path_factory, capsys, given_options, model):
    out = tmp_path_factory.mktemp("out")
    argv = ["train", "--model", model, "--data", str(out / "no-such-folder"), "--out", str(out), "--no-plot"]
    if model == "block":
        argv += ["--block", "16"]
    for option, value in given_options:
        argv += [f"{option}={value}"]                  # '=': a value may start with '-'
    try:
        code = main(argv)
    except SystemExit as e:                            # argparse's own refusals
        code = e.code
    err = capsys.readouterr().err
    assert "Traceback" not in err
    if code == 2:                                      # a usage error: the usage, then one line
        assert err.startswith("usage: minicirc train") and "minicirc train: error: " in err.splitlines()[-1], err
    else:                                              # the options made a run: it stops at the data
        assert code == 1 and err.count("\n") == 1 and "no-such-folder" in err, err


def test_a_model_too_large_for_memory_is_one_line_with_the_size():
    p = subprocess.run([sys.executable, "-m", "minicirc", "train", "--hidden", "4000000000", "--out", "/nonexistent/x"],
                       capture_output=True, text=True, env=ENV, timeout=300)
    assert p.returncode == 2 and "Traceback" not in p.stderr, p.stderr
    last = p.stderr.splitlines()[-1]
    assert last.startswith("minicirc train: error: TrainConfig: the circulant MLP with hidden=4,000,000,000 and "
                           "layers=2 needs at least "), last
    assert "GiB of memory (4 x " in last and "is available" in last
