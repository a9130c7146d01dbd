"""Resume: an interrupted run continues in place, in its own run dir, to the result an uninterrupted run gives;
SIGKILL inside an epoch or during a checkpoint write loses nothing; a run of another config is refused."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from graphrec.errors import ConfigError
from graphrec.checkpoints import load_checkpoint
from graphrec.training.run import run_training
from tests.conftest import SMALL_WORLD
from tests.test_bad_input import assert_clean_error, run_cli


class Interrupt(Exception):
    pass


def stop_at(epoch):
    def hook(state):
        if state.epoch == epoch:
            raise Interrupt

    return hook


def interrupted(cfg, run_dir, epoch):
    with pytest.raises(Interrupt):
        run_training(cfg, run_dir, on_epoch_end=stop_at(epoch))
    assert (run_dir / "checkpoints" / "last.pt").is_file() and not (run_dir / "results.json").exists()


@pytest.mark.parametrize("model,extra,stop", [
    ("lightgcn", [], 4), ("mf", [], 4),
    # learned kNN neighbours re-selected from the weights every epoch, and every third epoch: stopped after epoch 4,
    # the resumed run must select epoch 5's neighbours with the weights of epoch 4's selection, saved in last.pt
    ("a2bm2gl", ["dataset.synthetic.n_users=200", "dataset.synthetic.n_items=150"], 4),
    ("a2bm2gl", ["dataset.synthetic.n_users=200", "dataset.synthetic.n_items=150", "model.knn_refresh=3"], 4)])
def test_resume_after_interruption_matches_uninterrupted(make_cfg, tmp_path, model, extra, stop):
    overrides = [f"model={model}", "trainer.epochs=8", "trainer.patience=3", *extra]
    full = run_training(make_cfg(*overrides), tmp_path / "full")
    interrupted(make_cfg(*overrides), tmp_path / "cut", stop)
    resumed = run_training(make_cfg(*overrides, "trainer.resume=true"), tmp_path / "cut")
    assert resumed["test"] == full["test"] and resumed["valid"] == full["valid"]
    assert resumed["best_epoch"] == full["best_epoch"] and resumed["epochs_run"] == full["epochs_run"]
    rows = (tmp_path / "cut" / "metrics.csv").read_text().strip().splitlines()
    assert len(rows) == full["epochs_run"] + 1


def test_resume_continues_in_the_interrupted_dir(make_cfg, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    overrides = ["model=mf", "trainer.epochs=6", "trainer.patience=50"]
    full = run_training(make_cfg(*overrides), tmp_path / "ref")
    first, second = tmp_path / "outputs" / "day" / "first", tmp_path / "outputs" / "day" / "second"
    interrupted(make_cfg(*overrides), first, 2)
    (second / ".hydra").mkdir(parents=True)  # what Hydra makes for the new job before it starts
    (first / "checkpoints" / ".last.pt.x1y2z3").write_bytes(b"")  # the temp file of a killed write
    resumed = run_training(make_cfg(*overrides, "trainer.resume=true"), second)
    assert resumed["test"] == full["test"]
    assert (first / "results.json").is_file() and not second.exists()
    assert not list((first / "checkpoints").glob(".*"))
    # finished: a second resume finds nothing unfinished and starts afresh in its own dir
    run_training(make_cfg(*overrides, "trainer.resume=true"), tmp_path / "outputs" / "day" / "third")
    assert (tmp_path / "outputs" / "day" / "third" / "results.json").is_file()
    with pytest.raises(ConfigError, match="has finished"):
        run_training(make_cfg(*overrides, f"trainer.resume={first}"), tmp_path / "fourth")


def test_resume_refuses_a_run_of_another_config(make_cfg, tmp_path):
    interrupted(make_cfg("model=mf", "trainer.epochs=6"), tmp_path / "a", 2)
    before = (tmp_path / "a" / "checkpoints" / "last.pt").read_bytes()
    with pytest.raises(ConfigError, match=r"different config.*model.reg_weight: 0.0001 → 0.01") as err:
        run_training(make_cfg("model=mf", "trainer.epochs=6", "model.reg_weight=0.01",
                              f"trainer.resume={tmp_path / 'a' / 'checkpoints' / 'last.pt'}"), tmp_path / "b")
    assert "trainer.epochs" not in str(err.value)
    assert (tmp_path / "a" / "checkpoints" / "last.pt").read_bytes() == before and not (tmp_path / "b").exists()
    with pytest.raises(ConfigError, match="holds no checkpoints/last.pt"):
        run_training(make_cfg("model=mf", f"trainer.resume={tmp_path / 'nothing'}"), tmp_path / "c")


def test_a_run_saved_before_a_key_was_added_resumes_at_the_keys_implicit_value():
    from graphrec.training.run import config_differences

    wanted = {"eval": {"split": "fixed", "test_each_epoch": False}, "model": {"name": "mf"}}
    older = {"eval": {"split": "fixed"}, "model": {"name": "mf"}}
    assert config_differences(older, wanted) == []
    wanted["eval"]["test_each_epoch"] = True
    assert config_differences(older, wanted) == ["eval.test_each_epoch: False → True"]


def test_cuda_generator_states_are_saved_and_restored(make_cfg, tmp_path, monkeypatch):
    interrupted(make_cfg("model=mf", "trainer.epochs=4"), tmp_path / "a", 1)
    ckpt = load_checkpoint(tmp_path / "a" / "checkpoints" / "last.pt")
    assert ckpt["cuda_rng"] == []  # CUDA never initialised on this machine
    # a CUDA run's checkpoint: its generator states must be put back on resume
    from graphrec import checkpoints as ck

    ckpt["cuda_rng"] = [torch.ByteTensor([1, 2, 3])]
    ck.save_checkpoint(ckpt, tmp_path / "a" / "checkpoints" / "last.pt")
    restored = []
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "set_rng_state_all", lambda states: restored.append(states))
    run_training(make_cfg("model=mf", "trainer.epochs=4", "trainer.resume=true"), tmp_path / "a")
    assert len(restored) == 1 and restored[0][0].tolist() == [1, 2, 3]


def test_multirun_job_dir_can_be_named(make_cfg, tmp_path):
    job = tmp_path / "multirun" / "day" / "0-model=mf,seed=0"
    overrides = ["model=mf", "trainer.epochs=4", "trainer.patience=50"]
    interrupted(make_cfg(*overrides), job, 2)
    proc = run_cli("train", *SMALL_WORLD, *overrides, f"data_root={tmp_path / 'data'}", f"trainer.resume={job}",
                   cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert (job / "results.json").is_file() and not (tmp_path / "outputs").exists()
    proc = run_cli("train", *SMALL_WORLD, "model=lightgcn", f"data_root={tmp_path / 'data'}",
                   f"trainer.resume={job}", cwd=tmp_path)
    assert_clean_error(proc, "trainer.resume")


# ------------------------------------------------------------------------------------------- SIGKILL


KILLED = SMALL_WORLD + ["model=lightgcn", "trainer.epochs=6", "trainer.patience=50", "trainer.batch_size=512"]


def drive(tmp_path, *args):
    return subprocess.run([sys.executable, "-m", "tests.fault_driver", *map(str, args)], capture_output=True,
                          text=True, cwd=tmp_path, timeout=300, env=_env(tmp_path))


def _env(tmp_path):
    import os

    env = dict(os.environ, GRAPHREC_DATA=str(tmp_path / "data"))
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[1]) + os.pathsep + env.get("PYTHONPATH", "")
    return env


def without_timing(results):
    return {k: v for k, v in results.items() if k != "timing"}


@pytest.mark.parametrize("mode,at", [("batch", 11),  # inside epoch 3 (4 batches an epoch)
                                     ("save", 5)])   # half-way through the 5th checkpoint write
def test_sigkill_then_resume_gives_the_uninterrupted_results(tmp_path, mode, at):
    reference = run_cli("train", *KILLED, f"hydra.run.dir={tmp_path / 'ref'}", cwd=tmp_path,
                        env_root=tmp_path / "data")
    assert reference.returncode == 0, reference.stderr
    killed = drive(tmp_path, mode, at, *KILLED, "hydra.run.dir=outputs/cut")
    assert killed.returncode == -9, killed.stderr
    cut = tmp_path / "outputs" / "cut"
    assert not (cut / "results.json").exists()
    if mode == "save":
        assert list((cut / "checkpoints").glob(".*.pt.*")), "the killed write left its temp file"
    resumed = run_cli("train", *KILLED, "trainer.resume=true", cwd=tmp_path, env_root=tmp_path / "data")
    assert resumed.returncode == 0, resumed.stderr
    assert [p.name for p in (tmp_path / "outputs").iterdir()] == ["cut"]  # one run dir
    assert not list(cut.glob("**/.*.pt.*"))
    ref = json.loads((tmp_path / "ref" / "results.json").read_text())
    assert without_timing(json.loads((cut / "results.json").read_text())) == without_timing(ref)
