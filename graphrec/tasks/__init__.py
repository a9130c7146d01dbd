"""Tasks: what is learned from which records and how it is judged (``../DESIGN.md``, "Tasks").

The trainer knows a task's ``batches()`` and ``evaluate(model, part)``; the experiment builds the task a
model declares (``Recommender.task``) under the protocol ``eval=`` names: ``ranking`` (full or sampled) and
``ctr`` (``eval=ctr``: impressions with time-causal histories, ``ctr_data``).
"""

from graphrec.tasks.ctr import CtrTask
from graphrec.tasks.ranking import RankingTask

TASKS = {"ranking": RankingTask, "ctr": CtrTask}

__all__ = ["CtrTask", "RankingTask", "TASKS"]
