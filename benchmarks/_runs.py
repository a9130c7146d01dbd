"""Shared by the study scripts: train one configuration in a temporary run dir, print a results table."""

from __future__ import annotations

import sys
import tempfile
import warnings

from hydra import compose, initialize_config_dir

from graphrec.configs import conf_dir
from graphrec.training.run import run_training

warnings.filterwarnings("ignore")


def train(overrides: list[str], label: str) -> dict:
    """`graphrec train <overrides>` without the progress bars; returns results.json's content."""
    with initialize_config_dir(config_dir=conf_dir(), version_base="1.3"):
        cfg = compose("config", overrides=[*overrides, "trainer.progress=false"])
    with tempfile.TemporaryDirectory() as tmp:
        res = run_training(cfg, tmp)
    print(f"done {label}: best epoch {res['best_epoch']} of {res['epochs_run']}, "
          f"{res['timing']['train_s_per_epoch']:.2f} s/epoch", file=sys.stderr, flush=True)
    return res


def print_table(title: str, rows: list[tuple[str, dict]], metrics: list[str]) -> None:
    """One line per (label, results): the test metrics, the selected epoch and seconds per epoch."""
    print(f"\n{title}")
    print(f"{'':<22}" + "".join(f"{m:>12}" for m in metrics) + f"{'best epoch':>12}{'s/epoch':>9}")
    for label, res in rows:
        values = "".join(f"{res['test'][m]:>12.4f}" for m in metrics)
        print(f"{label:<22}{values}{res['best_epoch']:>12d}{res['timing']['train_s_per_epoch']:>9.2f}")
