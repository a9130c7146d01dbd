"""hydra/launcher=slurm (conf/hydra/launcher/slurm.yaml): the preset composes over the submitit plugin with our
values, and the same plugin's local launcher runs a graphrec multirun for real (Slurm itself is not here)."""

import json

import pytest

from tests.conftest import SMALL_WORLD
from tests.test_distributed import single

pytest.importorskip("hydra_plugins.hydra_submitit_launcher", reason="hydra-submitit-launcher is not installed")


def test_slurm_preset_composes_with_the_submitit_slurm_launcher(tmp_path):
    proc = single(tmp_path, "train", "hydra/launcher=slurm", "hydra.launcher.partition=gpu", "--cfg", "hydra",
                  "-p", "hydra.launcher")
    assert proc.returncode == 0, proc.stderr
    assert "hydra_plugins.hydra_submitit_launcher.submitit_launcher.SlurmLauncher" in proc.stdout
    for line in ("partition: gpu", "gpus_per_node: 1", "tasks_per_node: 1", "max_num_timeout: 2"):
        assert line in proc.stdout, line


def test_submitit_local_launcher_runs_a_multirun_job(tmp_path):
    proc = single(tmp_path, "train", "-m", "hydra/launcher=submitit_local", "hydra.launcher.timeout_min=5",
                  "hydra.sweep.dir=sweep", "model=mf", "trainer.epochs=1", "seed=3", *SMALL_WORLD)
    assert proc.returncode == 0, proc.stderr[-3000:]
    (result,) = (tmp_path / "sweep").glob("*/results.json")
    assert json.loads(result.read_text())["seed"] == 3
    assert list((tmp_path / "sweep" / ".submitit").iterdir())  # submitit ran the job, not Hydra's basic launcher
