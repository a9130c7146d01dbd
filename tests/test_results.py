"""results.json: every metric an evaluator returns is kept whatever its name; provenance traces a number to
the code, libraries, dataset content and config that produced it."""

import csv
import re
import tomllib
from pathlib import Path

from graphrec.evaluation.full_ranking import FullRankingEvaluator
from graphrec.evaluation.metrics import metric_values
from graphrec.training.run import run_training


def test_metrics_are_kept_whatever_their_name(make_cfg, tmp_path, monkeypatch):
    evaluate = FullRankingEvaluator.evaluate

    def with_more(self, *args, **kwargs):
        return {**evaluate(self, *args, **kwargs), "logloss": 0.5, "f1": 0.25, "nmi": 0.125}

    monkeypatch.setattr(FullRankingEvaluator, "evaluate", with_more)
    results = run_training(make_cfg("model=mf", "trainer.epochs=2"), tmp_path / "run")
    for part in ("valid", "test"):
        assert {"logloss", "f1", "nmi", "recall@20"} <= set(results[part])
        assert not {"n_users", "n_users_skipped", "eval_s"} & set(results[part])
        assert not {"n_users_dropped"} & set(results[part])
    rows = list(csv.DictReader(open(tmp_path / "run" / "metrics.csv")))
    assert {"valid/logloss", "valid/f1", "valid/nmi", "valid/mrr@20", "train_s", "valid_s"} <= set(rows[0])
    assert all(float(r["valid_s"]) > 0 for r in rows)  # each epoch's validation seconds
    assert metric_values({"auc": 1.0, "n_users": 3, "eval_s": 0.1}) == {"auc": 1.0}


def test_provenance(make_cfg, tmp_path):
    a = run_training(make_cfg("model=mf", "trainer.epochs=1"), tmp_path / "a")["provenance"]
    b = run_training(make_cfg("model=mf", "trainer.epochs=1", "trainer.progress=true"), tmp_path / "b")["provenance"]
    c = run_training(make_cfg("model=mf", "trainer.epochs=1", "trainer.lr=0.01"), tmp_path / "c")["provenance"]
    import torch
    import torch_geometric

    assert a["torch"] == torch.__version__ and a["torch_geometric"] == torch_geometric.__version__
    assert a["graphrec_version"] == "0.1.0"
    if (Path(__file__).resolve().parents[1] / ".git").exists():
        assert re.fullmatch(r"[0-9a-f]{40}", a["git_commit"]) and isinstance(a["git_dirty"], bool)
    assert re.fullmatch(r"[0-9a-f]{16}", a["dataset_fingerprint"]) and a["dataset_fingerprint"] == c["dataset_fingerprint"]
    assert a["config_hash"] == b["config_hash"] != c["config_hash"]  # display settings do not change results


def test_torch_floor_allows_fused_adam_on_cpu():
    spec = tomllib.loads((Path(__file__).resolve().parents[1] / "pyproject.toml").read_text())
    torch_req = next(d for d in spec["project"]["dependencies"] if d.startswith("torch>="))
    major, minor = map(int, torch_req.split(">=")[1].split(".")[:2])
    assert (major, minor) >= (2, 4)  # torch.optim.Adam(fused=True) on CPU arrived in 2.4
