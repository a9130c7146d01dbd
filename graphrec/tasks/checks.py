"""Start-up checks of the ``eval.*`` config: each protocol's rules (its evaluator, its split protocols, its own
positive integers), one ConfigError naming the field, before any data is loaded."""

from __future__ import annotations

from omegaconf import DictConfig

from graphrec.data.splits import PROTOCOLS
from graphrec.errors import ConfigError
from graphrec.evaluation.ctr import CtrEvaluator
from graphrec.evaluation.full_ranking import FullRankingEvaluator
from graphrec.evaluation.sampled import SampledEvaluator
from graphrec.tasks.ctr_data import SPLITS as CTR_SPLITS

EVALUATORS = {"full": FullRankingEvaluator, "sampled": SampledEvaluator, "ctr": CtrEvaluator}


def positive_int(value, field: str) -> None:
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
    positive_int(ecfg.block_size, "eval.block_size")
    if ecfg.protocol == "sampled":
        positive_int(ecfg.n_negatives, "eval.n_negatives")
    if ecfg.protocol == "ctr":
        positive_int(ecfg.history_length, "eval.history_length")
    if not isinstance(ecfg.split_seed, int) or isinstance(ecfg.split_seed, bool):
        raise ConfigError(f"eval.split_seed: expected an integer, got {ecfg.split_seed!r}")
