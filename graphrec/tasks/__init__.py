"""Tasks: what is learned from which records and how it is judged (``../DESIGN.md``, "Tasks").

The trainer knows a task's ``batches()`` and ``evaluate(model, part)``; the experiment builds the task a
model declares (``Recommender.task``). Only ``ranking`` is built by the experiment so far. ``ctr``
(``graphrec.tasks.ctr.CtrTask`` over ``ctr_data``'s impression splits and time-causal histories) has its
batches and evaluator; the experiment does not build it yet (no click-through model exists).
"""

from graphrec.tasks.ranking import RankingTask

TASKS = {"ranking": RankingTask}

__all__ = ["RankingTask", "TASKS"]
