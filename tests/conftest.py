"""Shared fixtures: a small composed config, the real datasets folder (skipped when absent)."""

from __future__ import annotations

import os
import shutil
import tempfile
import warnings
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir

from graphrec.configs import conf_dir

warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta state")

# Nothing a test does (graph caches, prepared datasets, subprocess CLIs) reaches the user's data root.
USER_DATA_ROOT = os.environ.get("GRAPHREC_DATA")
TEST_DATA_ROOT = tempfile.mkdtemp(prefix="graphrec-test-data-")
os.environ["GRAPHREC_DATA"] = TEST_DATA_ROOT


def pytest_sessionfinish(session, exitstatus):
    """Remove the session's data root, so test runs leave no graphrec-test-data-* in the temp folder."""
    shutil.rmtree(TEST_DATA_ROOT, ignore_errors=True)

SHARED = Path(os.environ.get("GRAPHREC_SHARED_DATASETS",
                             Path(__file__).resolve().parents[2] / "shared" / "datasets"))
SMALL_WORLD = ["dataset.synthetic.n_users=300", "dataset.synthetic.n_items=200",
               "dataset.synthetic.interactions_per_user=15", "trainer.progress=false", "device=cpu"]


def shared_dataset(name: str) -> Path:
    path = SHARED / name
    if not path.exists():
        pytest.skip(f"real dataset folder {path} is absent (set GRAPHREC_SHARED_DATASETS)")
    return path


@pytest.fixture
def make_cfg(tmp_path):
    """Compose the packaged config with overrides (a small synthetic world by default)."""

    def _make(*overrides: str, small: bool = True):
        with initialize_config_dir(config_dir=conf_dir(), version_base="1.3"):
            cfg = compose("config", overrides=(SMALL_WORLD if small else []) + list(overrides) +
                          [f"data_root={tmp_path / 'data'}"])
        return cfg

    return _make
