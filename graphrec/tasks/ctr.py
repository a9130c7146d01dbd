"""The ``ctr`` task: click-through prediction on impressions with time-causal histories (DESIGN.md, "Tasks").

Records and their split: ``graphrec.tasks.ctr_data`` (impressions split per user in time, by day or by the
source's files; histories of the user's last L clicked and non-clicked impressions strictly before each one,
from the parts before its own). Batches: the training impressions, shuffled each epoch, each labelled by its
click (pointwise). Evaluation: ``graphrec.evaluation.ctr`` (global AUC, user-AUC, logloss, P/R/F1@K) over
every impression of the part, scored by the model's ``predict(batch) -> logits``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import torch
from omegaconf import DictConfig

from graphrec.data.dataset import Dataset
from graphrec.errors import ConfigError, DataError
from graphrec.evaluation.ctr import CtrEvaluator
from graphrec.tasks.base import directions
from graphrec.tasks.eval_config import CtrEvalConfig
from graphrec.tasks.ctr_data import CtrRecords, ImpressionSplit, build_records

log = logging.getLogger("graphrec")


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
    protocols = ("ctr",)

    def __init__(self, ecfg: DictConfig, records: CtrRecords, dataset_name: str,
                 split: ImpressionSplit | None = None):
        self.ecfg, self.records, self.dataset_name, self.split = ecfg, records, dataset_name, split
        self.evaluator = CtrEvaluator(list(ecfg.metrics), int(ecfg.get("block_size", 4096)))

    @classmethod
    def check(cls, ecfg: DictConfig) -> CtrEvalConfig:
        """``eval.*`` as this task reads it (a ConfigError naming the first bad field)."""
        return CtrEvalConfig.from_config(ecfg)

    @classmethod
    def from_dataset(cls, cfg: DictConfig, ds: Dataset) -> CtrTask:
        """Split the impressions in time and index the histories (``graphrec.tasks.ctr_data``)."""
        records, split = build_records(ds, cfg.eval)
        log.info(f"split {split.protocol}: " + ", ".join(f"{k} {v:,} impressions" for k, v in split.counts().items())
                 + f"; histories of the last {records.length} clicks and non-clicks")
        return cls(cfg.eval, records, ds.name, split)

    def prepare(self, model: torch.nn.Module, cfg: DictConfig, device: torch.device) -> float:
        """A click-through model's initialisation from the training impressions (no graphs); returns 0 s of
        graph building. (That the model serves this task was checked before any data was read:
        ``graphrec.experiment.task_for``.)"""
        if model.graph_specs():
            raise ConfigError(f"model {type(model).__name__}: graphs are not built for the ctr task yet")
        records, train = self.records, self.records.rows("train")
        model.init_from_training(*(torch.from_numpy(a[train]).to(device)
                                   for a in (records.user, records.item, records.click, records.time)))
        return 0.0

    @property
    def metric_names(self) -> list[str]:
        return list(self.ecfg.metrics)

    @property
    def metric_directions(self) -> dict[str, bool]:
        return directions(self.metric_names)

    def results(self, test: dict[str, float]) -> dict[str, Any]:
        """The click-through part of ``results.json``: the split and what the test judged (impressions of how
        many users; no user is skipped: every impression is judged)."""
        return {"protocol": self.split.protocol,
                "split_counts": {**self.split.counts(), "train_only_users": self.split.train_only_users},
                "test_impressions": {"evaluated": int(self.records.rows("test").size),
                                     "users": test.get("n_users", 0)}}

    def batches(self, model: torch.nn.Module, batch_size: int, default_negatives: int = 0) -> CtrEpochs:
        """Training impressions in shuffled batches (their non-clicks are the negatives: nothing is sampled)."""
        return CtrEpochs(self.records, batch_size)

    def has_valid(self) -> bool:
        return self.records.rows("valid").size > 0

    def evaluate(self, model: torch.nn.Module, part: str) -> dict[str, float]:
        if self.records.rows(part).size == 0:
            raise DataError(f"dataset '{self.dataset_name}': the {part} impressions are empty")
        return self.evaluator.evaluate(model, self.records.batches(part, self.evaluator.batch_size))
