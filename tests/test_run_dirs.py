"""Run dirs are claimed atomically and never shared (graphrec.run_dirs)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from graphrec import run_dirs
from tests.conftest import SMALL_WORLD


def test_concurrent_claims_of_one_name_get_distinct_dirs(tmp_path):
    base = str(tmp_path / "outputs" / "12-00-00-mf-synthetic")
    with ProcessPoolExecutor(4) as pool:
        got = list(pool.map(run_dirs.first_free, [base] * 8))
    assert len(set(got)) == 8 and base in got and all(Path(d).is_dir() for d in got)


def test_a_process_keeps_its_first_claim_per_kind(tmp_path):
    run_dirs.reset()
    a = run_dirs.claim_dir("run", str(tmp_path / "a"))
    assert run_dirs.claim_dir("run", str(tmp_path / "a-later-second")) == a  # the time ticked between two resolutions
    assert run_dirs.claim_dir("sweep", str(tmp_path / "a")) == f"{a}-2"
    run_dirs.reset()
    assert run_dirs.claim_dir("run", str(tmp_path / "a")) == f"{a}-3"
    run_dirs.reset()


def test_runs_started_in_the_same_second_do_not_share_a_run_dir(tmp_path):
    env = {**os.environ, "GRAPHREC_RUN_STAMP": "1800000000", "GRAPHREC_DATA": str(tmp_path / "data")}
    procs = [subprocess.Popen([sys.executable, "-m", "graphrec", "train", "model=mf", "trainer.epochs=2",
                               f"seed={seed}", *SMALL_WORLD], cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for seed in range(3)]
    outs = [p.communicate(timeout=600) for p in procs]
    assert all(p.returncode == 0 for p in procs), [o[1][-2000:] for o in outs]
    dirs = [next(line for line in out.splitlines() if line.startswith("run dir: "))[9:] for out, _ in outs]
    assert len(set(dirs)) == 3
    for seed, d in enumerate(dirs):
        assert json.loads((Path(d) / "results.json").read_text())["seed"] == seed
        assert f"seed={seed}" in (Path(d) / ".hydra" / "overrides.yaml").read_text()
