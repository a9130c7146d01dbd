"""benchmarks/leaderboard.py: seeds summarised, the papers' best-test-epoch figure beside the selected one."""

import csv
import importlib.util
import json
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


@pytest.fixture(scope="module")
def leaderboard():
    sys.path.insert(0, str(BENCHMARKS))
    spec = importlib.util.spec_from_file_location("leaderboard", BENCHMARKS / "leaderboard.py")
    module = sys.modules["leaderboard"] = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run(recall, ndcg, best=None, s=1.0, rss=100.0):
    out = {"test": {"recall@20": recall, "ndcg@20": ndcg}, "timing": {"train_s_per_epoch": s},
           "peak_rss_mb": rss, "num_parameters": 1000, "leaderboard_setting": "x_tiktok"}
    if best is not None:
        out["best_test_epoch"] = {"epoch": 3, "recall@20": best[0], "ndcg@20": best[1]}
    return out


def test_a_row_summarises_its_seeds(leaderboard):
    row = leaderboard.Row("bm3", "bm3_tiktok", [run(0.08, 0.04, (0.10, 0.05), s=1.0, rss=100),
                                                 run(0.10, 0.04, (0.11, 0.04), s=3.0, rss=300),
                                                 run(0.09, 0.04, (0.09, 0.06), s=2.0, rss=200)])
    x = row.record()
    assert x["recall@20"] == pytest.approx(0.09) and x["recall@20_sd"] == pytest.approx(0.01)
    assert x["ndcg@20_sd"] == 0.0 and x["seeds"] == 3
    assert x["best_test_recall@20"] == pytest.approx(0.10) and x["best_test_ndcg@20"] == pytest.approx(0.05)
    # per seed, then averaged: (0.10/0.08 + 0.11/0.10 + 0.09/0.09) / 3 - 1
    assert x["inflation_recall"] == pytest.approx((1.25 + 1.1 + 1.0) / 3 - 1)
    assert x["inflation_ndcg"] == pytest.approx((1.25 + 1.0 + 1.5) / 3 - 1)
    assert (x["s_per_epoch"], x["peak_rss_mb"]) == (2.0, 300)
    assert (x["published_recall@20"], x["published_ndcg@20"]) == (0.0957, 0.0404)


def test_runs_without_the_papers_figure_leave_it_blank(leaderboard):
    x = leaderboard.Row("newmodel", "defaults", [run(0.05, 0.02, (0.06, 0.03)), run(0.07, 0.03)]).record()
    assert x["best_test_recall@20"] is None and x["inflation_recall"] is None and x["published_recall@20"] is None
    assert "| newmodel | defaults | 2 | 0.0600 ± 0.0141 | 0.0250 ± 0.0071 | — | — | — |" in leaderboard.markdown([x])


def test_report_writes_the_table_csv_and_figure_best_first(leaderboard, tmp_path):
    for model, recalls in {"mf": (0.03, 0.04), "lightgcn": (0.08, 0.07)}.items():
        for seed, r in enumerate(recalls):
            folder = tmp_path / model / f"seed{seed}"
            folder.mkdir(parents=True)
            (folder / "bench.json").write_text(json.dumps(run(r, r / 2, (r + 0.01, r / 2))))
    table = leaderboard.report(tmp_path, ["mf", "lightgcn", "absent"], [0, 1, 2], "tiktok")
    body = table.splitlines()[2:]
    assert [line.split(" | ")[0] for line in body] == ["| lightgcn", "| mf"]
    rows = list(csv.DictReader(open(tmp_path / "leaderboard.csv")))
    assert [r["model"] for r in rows] == ["lightgcn", "mf"] and rows[1]["seeds"] == "2"
    assert float(rows[0]["best_test_recall@20"]) == pytest.approx(0.085)
    assert (tmp_path / "leaderboard.png").stat().st_size > 1000
