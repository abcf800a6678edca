"""The training settings: each declared once (config.py), checked by one rule (settings.py)
from Python and from the command line alike."""
import argparse
from dataclasses import fields

import numpy as np
import pytest

from minicirc.mnist.cli import build_parser
from minicirc.mnist.config import ConfigError, TrainConfig
from minicirc.mnist.settings import FLAG


def train_parser():
    return build_parser()._subparsers._group_actions[0].choices["train"]


def test_every_setting_is_an_option_and_every_option_says_what_it_does():
    actions = [a for a in train_parser()._actions if not isinstance(a, argparse._HelpAction)]
    assert all(a.help for a in actions), [a.option_strings for a in actions if not a.help]
    dests = {a.dest for a in actions}
    assert {f.name for f in fields(TrainConfig)} <= dests
    assert dests - {f.name for f in fields(TrainConfig)} == {"resume", "progress"}   # not settings of a run
    defaults = {a.dest: a.default for a in actions if a.default is not None}
    for f in fields(TrainConfig):                          # the option's default is the field's
        if f.metadata["rule"] is not FLAG:
            assert defaults.get(f.name) == f.default, f.name


# A value each rule refuses, as the command line writes it and as Python passes it.
REFUSED = [("hidden", "0", 0), ("layers", "-1", -1), ("block", "2.5", 2.5), ("epochs", "0", 0),
           ("batch_size", "0", 0), ("train_limit", "-5", -5), ("warmup", "-1", -1), ("seed", "-1", -1),
           ("save_every", "-2", -2), ("lr", "0", 0.0), ("lr", "inf", float("inf")), ("lr", "nan", float("nan")),
           ("weight_decay", "-0.1", -0.1), ("dropout", "1", 1.0), ("momentum", "-0.5", -0.5),
           ("validation", "1.5", 1.5), ("validation", "-1", -1)]


@pytest.mark.parametrize("name, text, value", REFUSED)
def test_the_command_line_and_python_refuse_alike(name, text, value, capsys):
    with pytest.raises(SystemExit):
        build_parser().parse_args(["train", "--" + name.replace("_", "-"), text])
    said = capsys.readouterr().err.splitlines()[-1]
    what = said.split("expected ", 1)[1].rsplit(", got", 1)[0]
    with pytest.raises(ConfigError) as info:
        TrainConfig(**{name: value}).resolved()
    assert f"TrainConfig: {name} must be {what}, got" in str(info.value)


@pytest.mark.parametrize("name, text, value", [("hidden", "32", 32), ("epochs", "3", 3), ("lr", "1e-3", 1e-3),
                                               ("dropout", "0", 0.0), ("validation", "0.25", 0.25),
                                               ("validation", "100", 100), ("warmup", "0", 0)])
def test_the_command_line_and_python_accept_alike(name, text, value):
    args = build_parser().parse_args(["train", "--" + name.replace("_", "-"), text])
    assert getattr(args, name) == value and type(getattr(args, name)) is type(value)
    resolved = getattr(TrainConfig(**{name: value}).resolved(), name)
    assert resolved == value and type(resolved) is type(value)


def test_python_values_are_normalised_by_the_rule():
    c = TrainConfig(hidden=np.int64(32), epochs=2.0, validation=100.0, dtype=np.float64, lr=1).resolved()
    assert (c.hidden, c.epochs, c.validation, c.dtype, c.lr) == (32, 2, 100, "float64", 1.0)
    assert type(c.hidden) is int and type(c.epochs) is int and type(c.lr) is float


def test_architecture_checks_with_the_same_rules():
    from minicirc.mnist.models import architecture

    with pytest.raises(ValueError, match=r"hidden must be a positive integer, got 0"):
        architecture(hidden=0)
    with pytest.raises(ConfigError, match=r"TrainConfig: hidden must be a positive integer, got 0"):
        TrainConfig(hidden=0).resolved()
