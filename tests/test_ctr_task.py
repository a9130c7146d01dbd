"""The ctr task end to end: a click-through model trained and judged through the one trainer, and the
start-up errors when model, protocol and data do not fit."""

import json

import numpy as np
import pytest
import torch

from graphrec.errors import ConfigError, DataError
from graphrec.experiment import build_experiment
from graphrec.training.run import run_training

CTR_METRICS = ["auc", "user_auc", "logloss", "precision@10", "recall@10", "f1@10", "precision@50", "recall@50",
               "f1@50"]


def test_din_trains_on_impressions_and_reports_every_ctr_metric(make_cfg, tmp_path):
    cfg = make_cfg("model=din", "dataset.synthetic.n_items=400", "trainer.epochs=3")
    assert cfg.eval.protocol == "ctr"  # the model config chooses its protocol
    res = run_training(cfg, tmp_path / "run")
    assert set(CTR_METRICS) <= set(res["test"]) and set(CTR_METRICS) <= set(res["valid"])
    # clicks follow the user's interests, non-clicks are popularity draws: the histories make them separable
    assert res["test"]["auc"] > 0.75 and res["test"]["user_auc"] > 0.75, res["test"]
    assert res["protocol"] == "ctr-temporal" and res["split_counts"]["test"] > 0
    header = (tmp_path / "run" / "metrics.csv").read_text().splitlines()[0].split(",")
    assert {f"valid/{m}" for m in CTR_METRICS} <= set(header)
    assert json.loads((tmp_path / "run" / "results.json").read_text())["test"] == res["test"]
    # the AUC comes from the histories: the same model with every history emptied falls far below it
    from graphrec.evaluation.ctr import grouped_auc
    from graphrec.inference import load_run

    exp = load_run(tmp_path / "run" / "checkpoints" / "best.pt")
    batch = exp.task.records.batch("test", exp.task.records.rows("test"))
    blind = dict(batch, pos_lengths=batch["pos_lengths"] * 0, neg_lengths=batch["neg_lengths"] * 0)
    with torch.no_grad():
        scores = {k: exp.model.predict(b).numpy() for k, b in (("full", batch), ("blind", blind))}
    users = np.zeros(batch["label"].shape[0], np.int64)
    auc = {k: float(grouped_auc(users, batch["label"].numpy(), s)[0][0]) for k, s in scores.items()}
    assert auc["blind"] < auc["full"] - 0.1, auc
    # every verb re-evaluates a click-through checkpoint or says in one line why it does not apply
    from tests.test_bad_input import assert_clean_error, run_cli

    run = tmp_path / "run"
    ev = run_cli("evaluate", f"checkpoint={run}", "format=json", cwd=tmp_path)
    assert ev.returncode == 0, ev.stderr
    again = json.loads(ev.stdout)
    assert again["test"]["auc"] == pytest.approx(res["test"]["auc"], abs=1e-9) and "valid" in again
    text = run_cli("evaluate", f"checkpoint={run}", cwd=tmp_path)
    assert text.returncode == 0, text.stderr
    assert f"test: auc {res['test']['auc']:.4f}" in text.stdout
    for verb in (["recommend", f"checkpoint={run}", "users=[0]"], ["viz", "scores", f"checkpoint={run}", "users=[0]"],
                 ["export", f"checkpoint={run}", f"out={tmp_path / 'exp'}"]):
        assert_clean_error(run_cli(*verb, cwd=tmp_path), "DIN is a 'ctr' model", "graphrec evaluate")


def test_model_and_protocol_must_agree(make_cfg):
    with pytest.raises(ConfigError, match="serves the 'ranking' task, not eval=ctr"):
        build_experiment(make_cfg("model=mf", "eval=ctr"))
    with pytest.raises(ConfigError, match="serves the 'ctr' task: use eval=ctr"):
        build_experiment(make_cfg("model=din", "eval=default"))


def test_ctr_needs_impressions(make_cfg, tmp_path):
    from graphrec.data.storage import save_dataset
    from graphrec.data.synthetic import generate_world

    ds = generate_world(n_users=50, n_items=60, seed=0, name="noimp")
    ds.impressions = {}
    save_dataset(ds, tmp_path / "data")
    with pytest.raises(DataError, match="dataset 'noimp' has no impressions"):
        build_experiment(make_cfg("model=din", "dataset=prepared", "dataset.name=noimp", small=False))


@pytest.mark.parametrize("override, field", [("eval.split=loo", "eval.split"), ("eval.metrics=[hit@10]", "hit@10"),
                                             ("eval.history_length=0", "eval.history_length")])
def test_ctr_config_errors_at_start_up(make_cfg, override, field):
    from graphrec.training.checks import check_run_config

    with pytest.raises(ConfigError, match=field):
        check_run_config(make_cfg("model=din", override))
