"""``graphrec report``: a 2 × 2 multirun with known results (two learning rates × two seeds)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest


def _job(root, name, lr, seed, valid, test, metric="recall@20"):
    run = root / name
    (run / ".hydra").mkdir(parents=True)
    (run / ".hydra" / "overrides.yaml").write_text(f"- model=mf\n- trainer.lr={lr}\n- seed={seed}\n")
    (run / ".hydra" / "config.yaml").write_text(f"eval:\n  valid_metric: {metric}\n")
    (run / "results.json").write_text(json.dumps({"model": "mf", "seed": seed, "best_epoch": 3, "valid": {metric: valid},
                                                  "test": {metric: test}, "timing": {"train_s_per_epoch": 0.5}}))
    (run / "metrics.csv").write_text(f"epoch,valid/{metric}\n1,{valid / 2}\n2,{valid}\n")


def test_report_aggregates_seeds_and_marks_the_validation_best_row(tmp_path):
    from graphrec.report import write_report

    _job(tmp_path, "0-lr=0.01,seed=0", 0.01, 0, valid=0.30, test=0.10)
    _job(tmp_path, "1-lr=0.01,seed=1", 0.01, 1, valid=0.20, test=0.12)   # mean valid 0.25, test 0.11
    _job(tmp_path, "2-lr=0.001,seed=0", 0.001, 0, valid=0.26, test=0.05)
    _job(tmp_path, "3-lr=0.001,seed=1", 0.001, 1, valid=0.26, test=0.05)  # mean valid 0.26: the best,
    # although lr=0.01 has the best single run (0.30) and the best test metric: neither may choose
    result = write_report(tmp_path)
    best = result["rows"][result["best"]]
    assert best["overrides"] == "trainer.lr=0.001" and best["runs"] == 2
    other = next(r for r in result["rows"] if r["overrides"] == "trainer.lr=0.01")
    assert other["valid/recall@20"] == pytest.approx((0.25, 0.1 / 2 ** 0.5))  # sample std of 0.30, 0.20 and other["test/recall@20"][0] == pytest.approx(0.11)
    md = (tmp_path / "report.md").read_text()
    assert "| ★ | trainer.lr=0.001 | 2 | 0.2600 |" in md and "Common to every run: model=mf" in md
    assert len((tmp_path / "report.csv").read_text().splitlines()) == 5
    assert (tmp_path / "report.png").stat().st_size > 10_000


def test_report_cli_errors_are_one_line(tmp_path):
    r = subprocess.run([sys.executable, "-m", "graphrec.cli", "report", str(tmp_path)], capture_output=True, text=True)
    assert r.returncode == 2 and "no readable `graphrec train` results.json" in r.stderr


def test_viz_curves_draws_a_run_and_refuses_one_without_metrics(tmp_path):
    _job(tmp_path, "run", 0.01, 0, valid=0.3, test=0.1)
    cli = [sys.executable, "-m", "graphrec.cli", "viz", "curves"]
    r = subprocess.run([*cli, f"checkpoint={tmp_path / 'run'}"], capture_output=True, text=True)
    assert r.returncode == 0 and (tmp_path / "run" / "figures" / "curves.png").stat().st_size > 10_000
    (tmp_path / "empty").mkdir()
    r = subprocess.run([*cli, f"checkpoint={tmp_path / 'empty'}"], capture_output=True, text=True)
    assert r.returncode == 2 and "metrics.csv: missing" in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_report_logs_a_wandb_table_when_the_jobs_logged_to_wandb(tmp_path, monkeypatch):
    pytest.importorskip("wandb")
    from graphrec.report import write_report

    monkeypatch.setenv("WANDB_SILENT", "true")
    sweep = tmp_path / "sweep"
    for i, (lr, valid) in enumerate(((0.01, 0.2), (0.001, 0.3))):
        _job(sweep, f"{i}-lr={lr}", lr, 0, valid=valid, test=0.1)
        config = sweep / f"{i}-lr={lr}" / ".hydra" / "config.yaml"
        config.write_text(config.read_text() + "logger:\n  kind: wandb\n  project: p\n  mode: offline\n")
    result = write_report(sweep, out=tmp_path / "out")
    tables = list(Path(result["wandb"]).rglob("report_*.table.json"))
    assert len(tables) == 1
    table = json.loads(tables[0].read_text())
    assert table["columns"][:2] == ["best", "overrides"]
    best_rows = [row for row in table["data"] if row[0]]
    assert len(best_rows) == 1 and best_rows[0][1] == "trainer.lr=0.001"


def test_optuna_sweep_of_three_trials_returns_validation_metrics_and_reports(tmp_path):
    pytest.importorskip("hydra_plugins.hydra_optuna_sweeper")
    import yaml

    from tests.conftest import SMALL_WORLD

    sweep = tmp_path / "sweep"
    r = subprocess.run([sys.executable, "-m", "graphrec.cli", "train", "-m", "search=mf", "hydra.sweeper.n_trials=3",
                        *SMALL_WORLD, "trainer.epochs=3", f"hydra.sweep.dir={sweep}", f"data_root={tmp_path / 'data'}"],
                       capture_output=True, text=True, cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-2000:]
    valid = {}
    for path in sweep.glob("*/results.json"):
        valid[path.parent.name] = json.loads(path.read_text())["valid"]["recall@20"]
    assert len(valid) == 3
    optimised = yaml.safe_load((sweep / "optimization_results.yaml").read_text())
    assert optimised["best_value"] == pytest.approx(max(valid.values()))  # the sweeper saw validation metrics
    assert set(optimised["best_params"]) == {"trainer.lr", "model.reg_weight", "model.embedding_dim"}
    from graphrec.report import write_report

    result = write_report(sweep)
    best = result["rows"][result["best"]]
    assert best["valid/recall@20"][0] == pytest.approx(max(valid.values()))


def test_report_names_what_it_skips_and_shows_epochs_as_integers(tmp_path, caplog):
    from graphrec.report import write_report

    _job(tmp_path, "0-seed=0", 0.01, 0, valid=0.30, test=0.10)
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "results.json").write_text("{not json")
    _job(tmp_path, "typed", 0.01, 1, valid=0.2, test=0.1)
    results = json.loads((tmp_path / "typed" / "results.json").read_text())
    results["valid"]["recall@20"] = "high"
    (tmp_path / "typed" / "results.json").write_text(json.dumps(results))
    result = write_report(tmp_path)
    assert result["rows"][0]["runs"] == 1
    md = (tmp_path / "report.md").read_text()
    assert "1 runs under" in md and "2 results.json skipped" in md
    assert f"- {tmp_path / 'broken' / 'results.json'}: unreadable" in md
    assert f"- {tmp_path / 'typed' / 'results.json'}: 'valid/recall@20' is not a number" in md
    assert sum("report: skipped" in r.message for r in caplog.records) == 2
    assert "| 3 | 0.50 |" in md  # best epoch 3, not 3.00
