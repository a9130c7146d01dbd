"""The ``ctr`` task: click-through prediction on impressions with time-causal histories (DESIGN.md, "Tasks").

Records and their split: ``graphrec.tasks.ctr_data`` (impressions split per user in time, by day or by the
source's files; histories of the user's last L clicked and non-clicked impressions strictly before each one,
from the parts before its own). Batches: the training impressions, shuffled each epoch, each labelled by its
click (pointwise). Evaluation: ``graphrec.evaluation.ctr`` (global AUC, user-AUC, logloss, P/R/F1@K) over
every impression of the part, scored by the model's ``predict(batch) -> logits``.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
from omegaconf import DictConfig

from graphrec.errors import DataError
from graphrec.evaluation.ctr import CtrEvaluator
from graphrec.tasks.ctr_data import CtrRecords


class CtrEpochs:
    """One epoch of training batches at a time (the trainer's ``len()`` and ``epoch(generator)``)."""

    def __init__(self, records: CtrRecords, batch_size: int):
        self.records, self.batch_size = records, int(batch_size)

    def __len__(self) -> int:
        return (self.records.rows("train").size + self.batch_size - 1) // self.batch_size

    def epoch(self, generator: torch.Generator) -> Iterator[dict[str, torch.Tensor]]:
        return self.records.batches("train", self.batch_size, generator)


class CtrTask:
    name = "ctr"

    def __init__(self, ecfg: DictConfig, records: CtrRecords, dataset_name: str):
        self.ecfg, self.records, self.dataset_name = ecfg, records, dataset_name
        self.evaluator = CtrEvaluator(list(ecfg.metrics), int(ecfg.get("block_size", 4096)))

    @property
    def metric_names(self) -> list[str]:
        return list(self.ecfg.metrics)

    def batches(self, model: torch.nn.Module, batch_size: int, default_negatives: int = 0) -> CtrEpochs:
        """Training impressions in shuffled batches (their non-clicks are the negatives: nothing is sampled)."""
        return CtrEpochs(self.records, batch_size)

    def has_valid(self) -> bool:
        return self.records.rows("valid").size > 0

    def evaluate(self, model: torch.nn.Module, part: str) -> dict[str, float]:
        if self.records.rows(part).size == 0:
            raise DataError(f"dataset '{self.dataset_name}': the {part} impressions are empty")
        return self.evaluator.evaluate(model, self.records.batches(part, self.evaluator.batch_size))
