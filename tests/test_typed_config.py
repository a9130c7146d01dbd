"""Typed config sections (``graphrec.typed_config``): each field's declared type, bounds and choices are checked
on construction, one ConfigError naming ``<section>.<field>``; trainer.* and each task's eval.* are built so."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import pytest

from graphrec.errors import ConfigError
from graphrec.tasks.checks import check_eval
from graphrec.training.trainer import TrainerConfig
from graphrec.typed_config import TypedSection, setting


@dataclass
class Toy(TypedSection):
    section: ClassVar[str] = "toy"
    n: int = setting(1, at_least=1)
    rate: float = setting(0.5, above=0, below=1)
    cap: int | None = setting(None, at_least=2)
    mode: str = setting("a", choices=("a", "b"))
    on: bool = False
    names: list[str] = setting(default_factory=lambda: ["x"])


@pytest.mark.parametrize("kwargs, message", [
    ({"n": "abc"}, "toy.n: expected an integer, got 'abc'"),
    ({"n": True}, "toy.n: expected an integer"),
    ({"n": 0}, "toy.n: must be at least 1, got 0"),
    ({"rate": 0.0}, "toy.rate: must be greater than 0"),
    ({"rate": 1.0}, "toy.rate: must be below 1"),
    ({"rate": float("nan")}, "toy.rate: expected a number"),
    ({"cap": 1}, "toy.cap: must be at least 2"),
    ({"mode": "c"}, "toy.mode: expected one of a, b, got 'c'"),
    ({"on": "yes"}, "toy.on: expected true or false"),
    ({"names": ["x", 3]}, "toy.names: expected a list of str"),
])
def test_each_rule_is_one_error_naming_the_field(kwargs, message):
    with pytest.raises(ConfigError) as err:
        Toy(**kwargs)
    assert str(err.value).startswith(message), str(err.value)


def test_good_values_and_none_where_allowed_pass():
    toy = Toy(n=3, rate=0.25, cap=None, mode="b", on=True, names=[])
    assert (toy.n, toy.rate, toy.cap, toy.mode) == (3, 0.25, None, "b")
    assert TrainerConfig(lr=1, weight_decay=0).lr == 1  # a whole number is a number
    assert TrainerConfig.from_config({"lr": 0.01, "resume": True}).lr == 0.01  # keys of others are left alone


def test_trainer_rules_between_fields_still_hold():
    with pytest.raises(ConfigError, match="trainer.precision: expected one of fp32, bf16"):
        TrainerConfig(precision="fp16")
    with pytest.raises(ConfigError, match="trainer.tables=table_wise: trainer.weight_decay"):
        TrainerConfig(tables="table_wise", weight_decay=1e-4)


@pytest.mark.parametrize("override, message", [
    ("eval.protocol=bogus", "eval.protocol: expected one of full, sampled, ctr"),
    ("eval.loo_order=newest", "eval.loo_order: expected one of random, latest"),
    ("eval.drop_cold_users=maybe", "eval.drop_cold_users: expected true or false"),
    ("eval.n_negatives=0", "eval.n_negatives: must be at least 1"),
    ("eval.block_size=abc", "eval.block_size: expected an integer"),
    ("eval.valid_metric=auc", "eval.valid_metric: 'auc' is not among eval.metrics"),
])
def test_each_task_checks_its_own_eval_fields(override, message, make_cfg):
    with pytest.raises(ConfigError) as err:
        check_eval(make_cfg(override).eval)
    assert str(err.value).startswith(message), str(err.value)


def test_click_through_eval_has_its_own_fields(make_cfg):
    cfg = make_cfg("model=din")
    check_eval(cfg.eval)  # no n_negatives or loo_order needed
    with pytest.raises(ConfigError, match="eval.history_length: must be at least 1"):
        check_eval(make_cfg("model=din", "eval.history_length=0").eval)
    with pytest.raises(ConfigError, match="eval.split: expected one of temporal, day, fixed"):
        check_eval(make_cfg("model=din", "eval.split=loo").eval)
