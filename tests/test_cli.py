"""The graphrec command end to end: train, multirun, evaluate, recommend, W&B offline logging."""

import json

from tests.conftest import SMALL_WORLD
from tests.test_bad_input import assert_clean_error, run_cli

FAST = SMALL_WORLD + ["trainer.epochs=3"]


def test_train_evaluate_recommend(tmp_path):
    run = tmp_path / "run"
    proc = run_cli("train", "model=lightgcn", *FAST, f"hydra.run.dir={run}", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "test: recall@10" in proc.stderr + proc.stdout
    results = json.loads((run / "results.json").read_text())
    assert (run / ".hydra" / "config.yaml").is_file()
    ev = run_cli("evaluate", f"checkpoint={run}", cwd=tmp_path)
    assert ev.returncode == 0, ev.stderr
    test_line = next(line for line in ev.stdout.splitlines() if line.startswith("test:"))
    assert f"recall@20 {results['test']['recall@20']:.4f}" in test_line  # same metrics as at training time
    rec = run_cli("recommend", f"checkpoint={run / 'checkpoints' / 'best.pt'}", "users=[0,5]", "k=7", "format=json",
                  cwd=tmp_path)
    assert rec.returncode == 0, rec.stderr
    lists = json.loads(rec.stdout)
    assert [r["user"] for r in lists] == [0, 5] and all(len(r["items"]) == 7 for r in lists)
    # training items are never recommended
    from graphrec.inference import load_run

    exp = load_run(run)
    for r in lists:
        seen = set(exp.task.parts["train"][1][exp.task.parts["train"][0] == r["user"]].tolist())
        assert seen and not seen & set(r["items"])
    assert_clean_error(run_cli("recommend", f"checkpoint={run}", "users=[99999]", cwd=tmp_path), "users", "99999")
    assert_clean_error(run_cli("evaluate", f"checkpoint={tmp_path / 'missing.pt'}", cwd=tmp_path), "missing.pt")


def test_multirun_gives_one_dir_per_job(tmp_path):
    sweep = tmp_path / "sweep"
    proc = run_cli("train", "-m", "model=mf", *FAST, "seed=0,1", f"hydra.sweep.dir={sweep}", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    results = sorted(sweep.glob("*/results.json"))
    assert len(results) == 2
    seeds = sorted(json.loads(p.read_text())["seed"] for p in results)
    assert seeds == [0, 1]


def test_wandb_offline_logger(tmp_path):
    run = tmp_path / "run"
    proc = run_cli("train", "model=mf", *FAST, "logger=wandb", f"hydra.run.dir={run}", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    offline = list((run / "wandb").glob("offline-run-*"))
    assert len(offline) == 1
    records = next(offline[0].glob("*.wandb")).read_bytes()  # protobuf records of the offline run
    for key in (b"test/recall@20", b"valid/recall@20", b"loss/bpr", b"train_s_per_epoch", b"embedding_dim"):
        assert key in records, key  # final results, per-epoch metrics and losses, timing, resolved config


def test_mtin_cli_logs_every_ctr_metric_to_wandb_and_draws_its_groups(tmp_path):
    run = tmp_path / "run"
    proc = run_cli("train", "model=mtin", *SMALL_WORLD, "trainer.epochs=2", "model.embedding_dim=16",
                   "model.hidden=16", "model.n_masks=2", "eval.history_length=10", "logger=wandb",
                   f"hydra.run.dir={run}", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    results = json.loads((run / "results.json").read_text())
    assert results["protocol"] == "ctr-temporal" and 0.5 < results["test"]["auc"] <= 1.0
    header = (run / "metrics.csv").read_text().splitlines()[0]
    records = next(next((run / "wandb").glob("offline-run-*")).glob("*.wandb")).read_bytes()
    for metric in ("auc", "user_auc", "logloss", "precision@10", "recall@50", "f1@50"):
        assert f"valid/{metric}" in header and f"test/{metric}".encode() in records, metric
    viz = run_cli("viz", "groups", f"checkpoint={run}", cwd=tmp_path)
    assert viz.returncode == 0, viz.stderr
    assert (run / "figures" / "groups.png").stat().st_size > 10_000
