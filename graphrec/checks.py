"""Start-up checks of a composed run config.

Every ordinary mistake in ``trainer.*``, ``eval.*`` or ``dataset.name`` is one ConfigError naming the field,
raised before any data is loaded, any graph is built or any run-dir file is written (``graphrec train`` runs
them before Hydra makes the run dir; ``run_training`` runs them again for library callers).
"""

from __future__ import annotations

from omegaconf import DictConfig

from graphrec.data.splits import PROTOCOLS
from graphrec.data.storage import check_name
from graphrec.errors import ConfigError
from graphrec.tasks.ctr_data import SPLITS as CTR_SPLITS
from graphrec.evaluation.ctr import CtrEvaluator
from graphrec.evaluation.full_ranking import FullRankingEvaluator
from graphrec.evaluation.sampled import SampledEvaluator
from graphrec.training.trainer import TrainerConfig

EVALUATORS = {"full": FullRankingEvaluator, "sampled": SampledEvaluator, "ctr": CtrEvaluator}


def _positive_int(value, field: str) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ConfigError(f"{field}: expected a positive integer, got {value!r}")


def check_eval(ecfg: DictConfig) -> None:
    if ecfg.protocol not in EVALUATORS:
        raise ConfigError(f"eval.protocol: expected one of {', '.join(EVALUATORS)}, got '{ecfg.protocol}'")
    splits = CTR_SPLITS if ecfg.protocol == "ctr" else PROTOCOLS
    if ecfg.split not in splits:
        raise ConfigError(f"eval.split: unknown protocol '{ecfg.split}' (choose from {', '.join(splits)})")
    metrics = list(ecfg.metrics or [])
    if not metrics:
        raise ConfigError("eval.metrics: the list is empty")
    EVALUATORS[ecfg.protocol].check(metrics)
    if ecfg.valid_metric not in metrics:
        raise ConfigError(f"eval.valid_metric: '{ecfg.valid_metric}' is not among eval.metrics {metrics}")
    _positive_int(ecfg.block_size, "eval.block_size")
    if ecfg.protocol == "sampled":
        _positive_int(ecfg.n_negatives, "eval.n_negatives")
    if ecfg.protocol == "ctr":
        _positive_int(ecfg.history_length, "eval.history_length")
    if not isinstance(ecfg.split_seed, int) or isinstance(ecfg.split_seed, bool):
        raise ConfigError(f"eval.split_seed: expected an integer, got {ecfg.split_seed!r}")


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
