"""Every metric declares its direction once; early stopping, the best checkpoint, Optuna and report read it."""

from __future__ import annotations

import json

import pytest
import torch
from hydra import compose, initialize_config_dir

from graphrec.cli.hydra_app import register_resolvers
from graphrec.configs import conf_dir
from graphrec.evaluation.metrics import best_of, higher_is_better, improves, optuna_direction
from graphrec.report import best_configuration
from graphrec.training.loggers import LoggerGroup
from graphrec.training.trainer import Trainer, TrainerConfig


def test_directions_are_declared():
    assert not higher_is_better("logloss") and not higher_is_better("valid/logloss")
    assert all(higher_is_better(k) for k in ("auc", "user_auc", "recall@20", "ndcg@10", "hit@10", "f1@50"))
    assert improves(0.4, 0.5, "logloss") and not improves(0.6, 0.5, "logloss")
    assert improves(0.6, 0.5, "auc") and not improves(float("nan"), None, "auc")
    assert best_of([0.526, 0.47, 0.431, 0.44], "logloss") == 2
    assert best_of([0.1, float("nan"), 0.3, 0.3], "recall@20") == 2
    assert optuna_direction("logloss") == "minimize" and optuna_direction("auc") == "maximize"


class _Scalar(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.w = torch.nn.Parameter(torch.ones(1))

    def pre_epoch(self, epoch: int) -> None:
        pass

    def loss(self, batch):
        return (self.w * batch["x"]).pow(2).mean()


class _OneBatch:
    def __len__(self):
        return 1

    def epoch(self, generator):
        yield {"x": torch.ones(4)}


@pytest.mark.parametrize("metric, values, best", [
    ("logloss", [0.526, 0.47, 0.431, 0.45, 0.46], 3),  # the DIN run of the issue: epoch 3 is the best
    ("auc", [0.70, 0.72, 0.71, 0.69, 0.68], 2),
])
def test_trainer_keeps_the_best_in_the_metrics_direction(tmp_path, metric, values, best):
    scripted = iter(values)
    trainer = Trainer(_Scalar(), _OneBatch(), TrainerConfig(epochs=len(values), patience=2, progress=False),
                      lambda m: {metric: next(scripted)}, metric, tmp_path / "ckpt", LoggerGroup([]))
    state = trainer.fit()
    assert state.best_epoch == best and state.best_valid[metric] == values[best - 1]
    assert state.stopped_early and state.epoch == best + 2  # patience counts from the true best
    assert torch.load(tmp_path / "ckpt" / "best.pt", weights_only=True)["epoch"] == best


def test_optuna_direction_is_derived_from_the_valid_metric():
    register_resolvers()
    with initialize_config_dir(config_dir=conf_dir(), version_base="1.3"):
        for overrides, direction in ((["model=din", "eval=ctr", "eval.valid_metric=logloss"], "minimize"),
                                     (["model=din", "eval=ctr"], "maximize"), (["model=mf"], "maximize")):
            cfg = compose("config", overrides=[*overrides, f"search={overrides[0].split('=')[1]}"],
                          return_hydra_config=True)
            assert cfg.hydra.sweeper.direction == direction


def test_report_stars_the_lowest_logloss(tmp_path):
    rows = [{"valid_metric": "logloss", "valid/logloss": (0.52, 0.0)},
            {"valid_metric": "logloss", "valid/logloss": (0.43, 0.0)},
            {"valid_metric": "logloss", "valid/logloss": (0.47, 0.0)}]
    assert best_configuration(rows) == 1
    assert best_configuration([{**r, "valid_metric": "auc", "valid/auc": r["valid/logloss"]} for r in rows]) == 0
    declared = [{**r, "valid_metric": "auc", "valid/auc": r["valid/logloss"], "valid_higher_is_better": False}
                for r in rows]
    assert best_configuration(declared) == 1  # a task's declaration (results.json) wins over the metric's name


def test_the_trainer_follows_the_direction_the_task_declares(tmp_path):
    """A task that declared 'auc' lower-is-better would keep the lowest: the trainer reads the task, not the name."""
    values = [0.70, 0.72, 0.71, 0.69, 0.68]
    scripted = iter(values)
    trainer = Trainer(_Scalar(), _OneBatch(), TrainerConfig(epochs=len(values), patience=10, progress=False),
                      lambda m: {"auc": next(scripted)}, "auc", tmp_path / "ckpt", LoggerGroup([]),
                      valid_higher_is_better=False)
    assert trainer.fit().best_epoch == 5


def test_tasks_declare_directions_and_results_carry_them(make_cfg, tmp_path):
    from graphrec.experiment import build_experiment
    from graphrec.training.run import run_training

    ctr = build_experiment(make_cfg("model=din", "eval=ctr", "eval.metrics=[auc,logloss,user_auc]"))
    assert ctr.task.metric_directions == {"auc": True, "logloss": False, "user_auc": True}
    ranking = build_experiment(make_cfg("model=mf"))
    assert all(ranking.task.metric_directions.values()) and set(ranking.task.metric_directions) == set(
        ranking.cfg.eval.metrics)
    res = run_training(make_cfg("model=din", "eval=ctr", "eval.metrics=[auc,logloss]", "eval.valid_metric=logloss",
                                "trainer.epochs=2"), tmp_path / "din")
    assert res["metric_directions"] == {"auc": "higher", "logloss": "lower"}
    assert res["protocol"].startswith("ctr-") and res["test_impressions"]["evaluated"] == res["split_counts"]["test"]
    assert "test_users" not in res  # click-through judges impressions; nothing ranking-shaped is faked
