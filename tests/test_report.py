"""``graphrec report``: a 2 × 2 multirun with known results (two learning rates × two seeds)."""

from __future__ import annotations

import json
import subprocess
import sys

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
    assert other["valid/recall@20"] == pytest.approx((0.25, 0.05)) and other["test/recall@20"][0] == pytest.approx(0.11)
    md = (tmp_path / "report.md").read_text()
    assert "| ★ | trainer.lr=0.001 | 2 | 0.2600 |" in md and "Common to every run: model=mf" in md
    assert len((tmp_path / "report.csv").read_text().splitlines()) == 5
    assert (tmp_path / "report.png").stat().st_size > 10_000


def test_report_cli_errors_are_one_line(tmp_path):
    r = subprocess.run([sys.executable, "-m", "graphrec.cli", "report", str(tmp_path)], capture_output=True, text=True)
    assert r.returncode == 2 and "no `graphrec train` results.json" in r.stderr


def test_viz_curves_draws_a_run_and_refuses_one_without_metrics(tmp_path):
    _job(tmp_path, "run", 0.01, 0, valid=0.3, test=0.1)
    cli = [sys.executable, "-m", "graphrec.cli", "viz", "curves"]
    r = subprocess.run([*cli, f"checkpoint={tmp_path / 'run'}"], capture_output=True, text=True)
    assert r.returncode == 0 and (tmp_path / "run" / "figures" / "curves.png").stat().st_size > 10_000
    (tmp_path / "empty").mkdir()
    r = subprocess.run([*cli, f"checkpoint={tmp_path / 'empty'}"], capture_output=True, text=True)
    assert r.returncode == 2 and "metrics.csv: missing" in r.stderr and len(r.stderr.strip().splitlines()) == 1
