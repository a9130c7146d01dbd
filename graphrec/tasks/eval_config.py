"""``eval.*``, typed (``graphrec.typed_config``): what every task reads, and each task's own fields. Building one
checks every field and raises one ConfigError naming ``eval.<field>``, before any data is loaded."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from graphrec.data.splits import PROTOCOLS as RANKING_SPLITS
from graphrec.errors import ConfigError
from graphrec.evaluation.ctr import CtrEvaluator
from graphrec.evaluation.full_ranking import FullRankingEvaluator
from graphrec.evaluation.sampled import SampledEvaluator
from graphrec.tasks.ctr_data import SPLITS as CTR_SPLITS
from graphrec.typed_config import TypedSection, setting

EVALUATORS = {"full": FullRankingEvaluator, "sampled": SampledEvaluator, "ctr": CtrEvaluator}


@dataclass
class EvalConfig(TypedSection):
    """The fields every task reads: the protocol, the split, the metrics (each one the protocol's evaluator
    knows) and the one that selects on validation, the evaluation batch."""

    section: ClassVar[str] = "eval"
    protocol: str = setting("full", choices=EVALUATORS)
    split: str = "auto"
    metrics: list[str] = setting(default_factory=list)
    valid_metric: str = "recall@20"
    block_size: int = setting(2048, at_least=1)
    split_seed: int = 0
    ratios: Any = None  # checked by the split itself (graphrec.data.splits, graphrec.tasks.ctr_data)
    test_each_epoch: bool = False  # also test at every validated epoch, logged only (graphrec.training.run)

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.metrics:
            raise ConfigError("eval.metrics: the list is empty")
        EVALUATORS[self.protocol].check(self.metrics)
        if self.valid_metric not in self.metrics:
            raise ConfigError(f"eval.valid_metric: '{self.valid_metric}' is not among eval.metrics {self.metrics}")


@dataclass
class RankingEvalConfig(EvalConfig):
    split: str = setting("auto", choices=RANKING_SPLITS)
    n_negatives: int = setting(99, at_least=1)  # sampled protocol: negatives per held-out positive
    loo_order: str = setting("random", choices=("random", "latest"))
    min_user_interactions: int = setting(10, at_least=0)
    drop_cold_users: bool = False


@dataclass
class CtrEvalConfig(EvalConfig):
    split: str = setting("temporal", choices=CTR_SPLITS)
    history_length: int = setting(50, at_least=1)
    valid_days: Any = None  # day split: checked by graphrec.tasks.ctr_data
    test_days: Any = None
    time_unit_s: Any = "auto"
