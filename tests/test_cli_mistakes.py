"""Ordinary mistakes and signals at the command line: one line, the right exit status, nothing left behind."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time

import pytest

from tests.conftest import SMALL_WORLD
from tests.test_bad_input import assert_clean_error, run_cli


@pytest.mark.parametrize("args, needle", [
    (["evaluate", "checkpoint="], "checkpoint: expected a path, got nothing"),
    (["evaluate", "checkpoint=5"], "checkpoint not found: 5"),
    (["recommend", "checkpoint=", "users=[0]"], "checkpoint: expected a path"),
    (["export", "checkpoint=7", "out=x"], "checkpoint not found: 7"),
    (["serve", "export="], "export: expected a path"),
    (["viz", "scores", "checkpoint=3", "users=[0]"], "checkpoint not found: 3"),
    (["viz", "curves", "checkpoint="], "checkpoint: expected a path"),
])
def test_empty_or_numeric_paths_are_one_line(tmp_path, args, needle):
    assert_clean_error(run_cli(*args, cwd=tmp_path), needle)


def test_an_overlong_dataset_name_is_one_line(tmp_path):
    (tmp_path / "x.inter").write_text("user_id:token\titem_id:token\n1\t2\n")
    proc = run_cli("data", "prepare", "recbole", tmp_path / "x.inter", "--name", "a" * 300, env_root=tmp_path / "d",
                   cwd=tmp_path)
    assert_clean_error(proc, "--name: a dataset name has at most 200 characters (got 300)")


def test_a_bad_hydra_value_is_one_line_and_a_failed_sweep_leaves_no_dir(tmp_path):
    pytest.importorskip("hydra_plugins.hydra_optuna_sweeper")
    proc = run_cli("train", "-m", "search=mf", "hydra.sweeper.n_trials=abc", *SMALL_WORLD, cwd=tmp_path)
    assert_clean_error(proc, "hydra.sweeper.n_trials=abc", "could not be converted to Integer")
    proc = run_cli("train", "-m", "model=mf", "dataset=prepared", "dataset.name=absent", "seed=0,1",
                   env_root=tmp_path / "d", cwd=tmp_path)
    assert proc.returncode == 2 and "dataset 'absent' not found" in proc.stderr
    assert not (tmp_path / "multirun").exists() and not (tmp_path / "outputs").exists()


def test_usage_texts_agree_on_graph_kinds_and_help_survives_a_closed_pipe(tmp_path):
    from graphrec.cli import VERBS
    from graphrec.data.formats import FORMATS
    from graphrec.graphs.store import BUILDERS

    kinds = ", ".join(BUILDERS)
    overview = run_cli("--help", cwd=tmp_path).stdout
    flat = " ".join(overview.split())  # the overview wraps long descriptions
    assert f"(kinds: {kinds})" in flat and f"(formats: {', '.join(FORMATS)})" in flat
    listed = {line.split()[0] for line in overview.splitlines() if line.startswith("  ") and line.strip()}
    assert set(VERBS) <= listed, set(VERBS) - listed  # generated from the verbs' table: none left out
    assert f"kinds: {kinds}" in run_cli("graphs", "--help", cwd=tmp_path).stdout
    train_help = run_cli("train", "--help", cwd=tmp_path).stdout
    assert train_help.startswith("usage: graphrec train") and "powered by Hydra" not in train_help
    closed = subprocess.run(f"{sys.executable} -m graphrec.cli --help | true", shell=True, capture_output=True,
                            text=True, cwd=tmp_path)
    assert closed.stderr == ""


def test_sigterm_stops_a_run_saying_how_to_resume(tmp_path):
    env = {**os.environ, "GRAPHREC_DATA": str(tmp_path / "d")}
    proc = subprocess.Popen([sys.executable, "-m", "graphrec", "train", "model=mf", "trainer.epochs=100000",
                             "trainer.patience=100000", *SMALL_WORLD, "hydra.run.dir=run"], cwd=tmp_path, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while not (tmp_path / "run" / "checkpoints" / "last.pt").exists() and time.time() < deadline:
        time.sleep(0.2)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 143
    assert err.strip().splitlines()[-1].startswith("graphrec: terminated (SIGTERM); continue with trainer.resume=true")


def test_serve_on_a_busy_port_is_one_line_before_serving(tmp_path):
    from tests.test_serving import export_run  # noqa: F401  (the serving extra is installed)

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        proc = run_cli("train", "model=mf", "trainer.epochs=1", *SMALL_WORLD, "hydra.run.dir=run",
                       env_root=tmp_path / "d", cwd=tmp_path)
        assert proc.returncode == 0, proc.stderr
        assert run_cli("export", "checkpoint=run", "out=exp", env_root=tmp_path / "d", cwd=tmp_path).returncode == 0
        proc = run_cli("serve", "export=exp", f"port={port}", cwd=tmp_path)
    assert_clean_error(proc, f"port: cannot listen on 127.0.0.1:{port}")
    assert "serving" not in proc.stdout


def test_text_recommend_shows_raw_ids(tmp_path):
    rows = "\n".join(f"u{u}\tv{(u * 7 + j) % 40}" for u in range(30) for j in range(12))
    (tmp_path / "x.inter").write_text("user_id:token\titem_id:token\n" + rows + "\n")
    root = tmp_path / "d"
    assert run_cli("data", "prepare", "recbole", tmp_path / "x.inter", "--name", "raw", env_root=root,
                   cwd=tmp_path).returncode == 0
    proc = run_cli("train", "model=mf", "dataset=prepared", "dataset.name=raw", "trainer.epochs=1", "device=cpu",
                   "trainer.progress=false", "hydra.run.dir=run", env_root=root, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    out = run_cli("recommend", "checkpoint=run", "users=[0]", "k=3", env_root=root, cwd=tmp_path).stdout.strip()
    head, items = out.split(": ", 1)
    assert head.startswith("user 0 [raw u") and len(items.split(", ")) == 3
    assert all(" [raw v" in item for item in items.split(", "))
