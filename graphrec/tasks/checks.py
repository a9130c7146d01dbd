"""Start-up check of the ``eval.*`` config: the protocol names the task, whose typed config checks the rest
(``graphrec.tasks.eval_config``), one ConfigError naming the field, before any data is loaded."""

from __future__ import annotations

from omegaconf import DictConfig

from graphrec.tasks.ctr import CtrTask
from graphrec.tasks.eval_config import EVALUATORS
from graphrec.tasks.ranking import RankingTask
from graphrec.typed_config import check_choice

TASKS = (RankingTask, CtrTask)


def check_eval(ecfg: DictConfig) -> None:
    check_choice(ecfg.get("protocol"), "eval.protocol", EVALUATORS)
    next(task for task in TASKS if ecfg.protocol in task.protocols).check(ecfg)
