"""Tasks: what is learned from which records and how it is judged (``../DESIGN.md``, "Tasks").

The trainer knows a task's ``batches()`` and ``evaluate(model, part)``; the experiment builds the task a
model declares (``Recommender.task``). Only ``ranking`` is wired to the trainer so far; the records side of
``ctr`` (impression splits, history pools, batches with time-causal histories) is ``ctr_data``.
"""

from graphrec.tasks.ranking import RankingTask

TASKS = {"ranking": RankingTask}

__all__ = ["RankingTask", "TASKS"]
