"""Start-up checks of a composed run config.

Every ordinary mistake in ``trainer.*``, ``eval.*`` (``graphrec.tasks.checks``) or ``dataset.name`` is one ConfigError naming the field,
raised before any data is loaded, any graph is built or any run-dir file is written (``graphrec train`` runs
them before Hydra makes the run dir; ``run_training`` runs them again for library callers).
"""

from __future__ import annotations

from omegaconf import DictConfig

from graphrec.data.storage import check_name
from graphrec.errors import ConfigError
from graphrec.tasks.checks import check_eval
from graphrec.training.trainer import TrainerConfig


def check_run_config(cfg: DictConfig) -> TrainerConfig:
    """Check ``cfg``; returns the trainer's config."""
    trainer = TrainerConfig.from_config(cfg.trainer)
    check_eval(cfg.eval)
    if cfg.dataset.get("source", "prepared") != "synthetic" and cfg.dataset.get("name"):
        check_name(cfg.dataset.name)
    if not isinstance(cfg.seed, int) or isinstance(cfg.seed, bool):
        raise ConfigError(f"seed: expected an integer, got {cfg.seed!r}")
    resume = cfg.trainer.get("resume", False)
    if not isinstance(resume, (bool, str)):
        raise ConfigError(f"trainer.resume: expected true, false or a run dir path, got {resume!r}")
    return trainer
