"""Ordinary mistakes are one clear line naming the field, exit status 2, no traceback and no run dir; every verb
answers --help; a run with no terminal still says what it is doing."""

import pytest

from tests.conftest import SMALL_WORLD
from tests.test_bad_input import assert_clean_error, run_cli
from tests.test_cli import FAST


@pytest.mark.parametrize("overrides,needles", [
    (["trainer.lr=abc"], ["trainer.lr", "expected a number", "abc"]),
    (["trainer.lr=-1"], ["trainer.lr", "greater than 0"]),
    (["trainer.batch_size=0"], ["trainer.batch_size", "at least 1"]),
    (["trainer.epochs=-1"], ["trainer.epochs", "at least 1"]),
    (["trainer.patience=2.5"], ["trainer.patience", "expected an integer"]),
    (["eval.protocol=sampled"], ["eval.metrics", "recall@10", "sampled", "hit@K, ndcg@K"]),
    (["eval.metrics=[recall@20,recal@10]"], ["eval.metrics", "recal@10", "available"]),
    (["eval.metrics=[ndcg@ten]", "eval.valid_metric=ndcg@ten"], ["eval.metrics", "ndcg@ten"]),
    (["eval.valid_metric=ndcg@50"], ["eval.valid_metric", "ndcg@50"]),
    (["-m", "trainer.lr=1e-3,abc"], ["trainer.lr", "abc"]),  # every value of a sweep is checked up front
    (["dataset=prepared", "dataset.name=../x"], ["dataset.name", "not a dataset name"]),
    (["search=mf"], ["search=mf", "add -m"]),
    (["experiment=lightgcn_tiktk"], ["experiment", "lightgcn_tiktk"]),
])
def test_bad_train_values_fail_before_any_run_dir(tmp_path, overrides, needles):
    small = [] if "dataset=prepared" in overrides else SMALL_WORLD
    proc = run_cli("train", *small, *overrides, cwd=tmp_path)
    assert proc.returncode == 2
    assert_clean_error(proc, *needles)
    assert not (tmp_path / "outputs").exists() and not (tmp_path / "multirun").exists()


def test_diverging_loss_names_the_term_the_epoch_and_what_to_try(tmp_path):
    proc = run_cli("train", "model=mf", *FAST, "trainer.lr=1e30", cwd=tmp_path)
    assert proc.returncode == 2
    assert_clean_error(proc, "non-finite at epoch", "bpr", "trainer.lr")


def test_bad_recommend_and_graphs_arguments(tmp_path):
    run = tmp_path / "run"
    assert run_cli("train", "model=mf", *FAST, f"hydra.run.dir={run}", cwd=tmp_path).returncode == 0
    for k in ("abc", "0", "1.5"):
        proc = run_cli("recommend", f"checkpoint={run}", "users=[0]", f"k={k}")
        assert proc.returncode == 2
        assert_clean_error(proc, "k")
    assert run_cli("recommend", f"checkpoint={run}", "users=[0]", "k=3").returncode == 0


def test_no_arguments_and_help(tmp_path):
    proc = run_cli(cwd=tmp_path)
    assert proc.returncode == 2 and "usage: graphrec" in proc.stderr
    assert run_cli("--help").returncode == 0
    from graphrec.cli import VERBS

    for verb in VERBS:
        proc = run_cli(verb, "--help", cwd=tmp_path)
        assert proc.returncode == 0, (verb, proc.stderr)
        assert "usage" in proc.stdout.lower() or "powered by hydra" in proc.stdout.lower(), verb
    assert not (tmp_path / "outputs").exists()
    assert run_cli("evaluate", "--bogus").returncode == 2
    assert run_cli("frobnicate").returncode == 2


def test_a_run_without_a_terminal_reports_each_stage_and_progress_inside_epochs(tmp_path):
    proc = run_cli("train", "model=lightgcn", *SMALL_WORLD, "trainer.epochs=2", "trainer.batch_size=256",
                   "trainer.progress=true", "trainer.progress_interval_s=0", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout + proc.stderr
    for stage in ("dataset synthetic: 300 users", "split random: train", "model lightgcn:", "graphs: 1 (adj)",
                  "training: 8 batches of 256 per epoch", "epoch 1: batch 1/8", "epoch 2: batch 7/8"):
        assert stage in out, stage
    quiet = run_cli("train", "model=lightgcn", *SMALL_WORLD, "trainer.epochs=1", "trainer.progress=false",
                    cwd=tmp_path)
    assert "batch 1/" not in quiet.stdout + quiet.stderr


@pytest.mark.parametrize("override, field", [("model=layergcn model.dropout=1.0", "model.dropout"),
                                             ("model=selfcf model.edge_dropout_max=1.5", "model.edge_dropout_max"),
                                             ("model=slmrec model.ssl_task=contrast", "model.ssl_task"),
                                             ("model=smore +model.knn_k_by_modality.smell=5",
                                              "model.knn_k_by_modality")])
def test_bad_settings_of_the_self_supervised_models_name_the_field(override, field, make_cfg, tmp_path):
    from graphrec.errors import ConfigError
    from graphrec.experiment import build_experiment

    cfg = make_cfg(*override.split())
    with pytest.raises(ConfigError, match=field):
        build_experiment(cfg)
