"""Tasks: what is learned from which records and how it is judged (``../DESIGN.md``, "Tasks").

The trainer knows a task's ``batches()`` and ``evaluate(model, part)``; the experiment builds the task a
model declares (``Recommender.task``). Only ``ranking`` exists so far; ``ctr`` (impressions with time-causal
histories) is the next.
"""

from graphrec.tasks.ranking import RankingTask

TASKS = {"ranking": RankingTask}

__all__ = ["RankingTask", "TASKS"]
