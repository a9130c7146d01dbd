"""The Task protocol: what every kind of learning implements (``../DESIGN.md``, "Tasks").

A task knows which records a run learns from and how it is judged. The experiment picks the task the model
serves (``Recommender.task``) and asks it, in this order:

1. ``check(ecfg)`` (class method, at start-up, before any data is read): the ``eval.*`` rules of this task;
2. ``from_dataset(cfg, dataset)`` (class method): split the records and index them;
3. ``prepare(model, cfg, device)``: what the model needs from the training records (graphs from the training
   split, a model's initialisation from training impressions), returning the seconds it took;
4. ``batches(model, batch_size, default_negatives)``: an object with ``len()`` and ``epoch(generator)``;
5. ``evaluate(model, part)``: metrics of ``valid`` or ``test`` with their counts and seconds;
6. ``metric_directions``: ``{metric: higher_is_better}`` for every metric it reports (early stopping, the best
   checkpoint and ``results.json`` read a metric's direction here);
7. ``results(test)``: this task's own part of ``results.json`` (protocol, split counts, what the test judged).
"""

from __future__ import annotations

from typing import Any, ClassVar, Protocol, runtime_checkable

import torch
from omegaconf import DictConfig

from graphrec.data.dataset import Dataset
from graphrec.evaluation.metrics import higher_is_better


@runtime_checkable
class Task(Protocol):
    name: ClassVar[str]
    protocols: ClassVar[tuple[str, ...]]  # the eval.protocol values this task serves

    @classmethod
    def check(cls, ecfg: DictConfig) -> None: ...

    @classmethod
    def from_dataset(cls, cfg: DictConfig, dataset: Dataset) -> Task: ...

    def prepare(self, model: torch.nn.Module, cfg: DictConfig, device: torch.device) -> float: ...

    def batches(self, model: torch.nn.Module, batch_size: int, default_negatives: int) -> Any: ...

    def has_valid(self) -> bool: ...

    def evaluate(self, model: torch.nn.Module, part: str) -> dict[str, float]: ...

    @property
    def metric_directions(self) -> dict[str, bool]: ...

    def results(self, test: dict[str, float]) -> dict[str, Any]: ...


def directions(metrics: list[str]) -> dict[str, bool]:
    """``{metric: higher_is_better}`` for a task's configured metrics."""
    return {m: higher_is_better(m) for m in metrics}
