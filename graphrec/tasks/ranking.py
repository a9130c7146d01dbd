"""The ``ranking`` task: implicit (user, item) interactions, top-K ranking.

Batches: pairwise (BPR: a positive and its negatives) or pointwise (log loss: a positive followed by its K
negatives labelled 0), as the model's ``sampling`` says, negatives drawn from outside the user's training
items. Evaluation: full ranking over all items (training items masked at validation, training and validation
items at test), or sampled (each held-out positive against ``eval.n_negatives`` fixed distinct candidates the
user never interacted with in any split; ``eval.protocol=sampled``). ``eval.drop_cold_users=true`` leaves
users without a training interaction out of both (MMRec's and RecBole's convention; off by default).
"""

from __future__ import annotations

import logging
import time
from typing import Any

import numpy as np
import torch
from omegaconf import DictConfig

from graphrec.data.dataset import Dataset
from graphrec.data.interactions import InteractionIndex
from graphrec.data.sampler import NegativeSampler, TrainingBatches
from graphrec.data.splits import Split, make_split
from graphrec.data.storage import data_root
from graphrec.errors import DataError
from graphrec.evaluation.full_ranking import FullRankingEvaluator
from graphrec.evaluation.sampled import SampledEvaluator, draw_negatives
from graphrec.graphs.store import GraphStore, TrainingGraphInput
from graphrec.models.base import Recommender
from graphrec.tasks.base import directions
from graphrec.tasks.eval_config import RankingEvalConfig

log = logging.getLogger("graphrec")


def split_dataset(ds: Dataset, ecfg: DictConfig) -> Split:
    """The split ``eval.*`` asks for."""
    return make_split(ds, ecfg.split, list(ecfg.ratios), int(ecfg.split_seed), ecfg.loo_order,
                      int(ecfg.min_user_interactions))


def graph_store(cfg: DictConfig, ds: Dataset, train_index: np.ndarray) -> GraphStore:
    """A GraphStore over the training interactions and item features, cached under the data root."""
    data = TrainingGraphInput(torch.from_numpy(ds.user[train_index]), torch.from_numpy(ds.item[train_index]),
                              ds.n_users, ds.n_items, {m: torch.from_numpy(f) for m, f in ds.features.items()})
    cache = data_root(cfg.get("data_root")) / ".graphs" if cfg.get("graph_cache", True) else None
    return GraphStore(data, cache)


class RankingTask:
    name = "ranking"
    protocols = ("full", "sampled")

    def __init__(self, ecfg: DictConfig, parts: dict[str, tuple[torch.Tensor, torch.Tensor]],
                 csr: dict[str, InteractionIndex], everything: InteractionIndex, dataset_name: str,
                 split: Split | None = None, dataset: Dataset | None = None):
        self.ecfg, self.parts, self.csr = ecfg, parts, csr
        self.everything, self.dataset_name = everything, dataset_name
        self.split, self.dataset = split, dataset
        self._negatives: dict[str, torch.Tensor] = {}

    @classmethod
    def check(cls, ecfg: DictConfig) -> RankingEvalConfig:
        """``eval.*`` as this task reads it (a ConfigError naming the first bad field)."""
        return RankingEvalConfig.from_config(ecfg)

    @classmethod
    def from_dataset(cls, cfg: DictConfig, ds: Dataset) -> RankingTask:
        """Split the interactions as ``eval.*`` says and index each part."""
        split = split_dataset(ds, cfg.eval)
        log.info(f"split {split.protocol}: " + ", ".join(f"{k} {v:,}" for k, v in split.counts().items())
                 + (f"; {split.train_only_users:,} users with too few interactions for a held-out item stay in "
                    f"training only" if split.train_only_users else ""))
        parts, csr = {}, {}
        for name in ("train", "valid", "test"):
            idx = split.part(name)
            u, i = torch.from_numpy(ds.user[idx]), torch.from_numpy(ds.item[idx])
            parts[name] = (u, i)
            csr[name] = InteractionIndex(u, i, ds.n_users, ds.n_items)
        everything = InteractionIndex(torch.from_numpy(ds.user), torch.from_numpy(ds.item), ds.n_users, ds.n_items)
        return cls(cfg.eval, parts, csr, everything, ds.name, split, ds)

    def prepare(self, model: Recommender, cfg: DictConfig, device: torch.device) -> float:
        """Build the graphs the model declares from the training split (cached) and attach them on ``device``;
        returns the seconds it took. (That the model serves this task was checked before any data was read:
        ``graphrec.experiment.task_for``.)"""
        start = time.perf_counter()
        specs = model.graph_specs()
        store = graph_store(cfg, self.dataset, self.split.train)
        model.attach_graphs(store.build(specs, device))
        seconds = time.perf_counter() - start
        if specs:
            cached = sum(store.cache_hits.values())
            log.info(f"graphs: {len(specs)} ({', '.join(specs)}), {cached} of them from the cache ({seconds:.1f} s)")
        return seconds

    @property
    def metric_names(self) -> list[str]:
        return list(self.ecfg.metrics)

    @property
    def metric_directions(self) -> dict[str, bool]:
        return directions(self.metric_names)

    def results(self, test: dict[str, float]) -> dict[str, Any]:
        """The ranking part of ``results.json``: the split and the users the test judged."""
        return {"protocol": self.split.protocol,
                "split_counts": {**self.split.counts(), "train_only_users": self.split.train_only_users},
                "test_users": {"evaluated": test.get("n_users", 0), "skipped": test.get("n_users_skipped", 0),
                               "dropped_cold": test.get("n_users_dropped", 0)}}

    @property
    def train_pairs(self) -> tuple[torch.Tensor, torch.Tensor]:
        return self.parts["train"]

    def batches(self, model: Recommender, batch_size: int, default_negatives: int) -> TrainingBatches:
        """One epoch's batches (``.epoch(generator)``) of the kind ``model.sampling`` names."""
        user, item = self.parts["train"]
        return TrainingBatches(user, item, NegativeSampler(self.csr["train"]), batch_size,
                               int(model.n_negatives or default_negatives), model.sampling)

    def has_valid(self) -> bool:
        return self.parts["valid"][0].numel() > 0

    def evaluate(self, model: Recommender, part: str) -> dict[str, float]:
        """Metrics on ``valid`` (train masked) or ``test`` (train and valid masked)."""
        if self.csr[part].counts().sum() == 0:
            raise DataError(f"dataset '{self.dataset_name}': the {part} split is empty")
        warm = self.csr["train"].counts() > 0 if self.ecfg.get("drop_cold_users", False) else None
        if self.ecfg.protocol == "sampled":
            user, item = self.parts[part]
            negatives = self.sampled_negatives(part)
            if warm is not None:
                keep = warm[user]
                user, item, negatives = user[keep], item[keep], negatives[keep]
            out = SampledEvaluator(self.metric_names).evaluate(model, user, item, negatives, self.everything.n_users)
            if warm is not None:
                out["n_users_dropped"] = int(torch.unique(self.parts[part][0]).numel()) - out["n_users"]
                out["n_users_skipped"] -= out["n_users_dropped"]
            return out
        mask = [self.csr["train"]] + ([self.csr["valid"]] if part == "test" else [])
        return FullRankingEvaluator(self.metric_names, self.ecfg.block_size).evaluate(model, self.csr[part], mask,
                                                                                      keep=warm)

    def sampled_negatives(self, part: str) -> torch.Tensor:
        """The fixed candidates of ``part``'s held-out pairs: ``eval.n_negatives`` distinct items outside the
        user's interactions in every split, drawn once from ``eval.split_seed`` (so runs of every seed rank
        against the same candidates) and kept for every epoch."""
        if part not in self._negatives:
            seed = int(self.ecfg.split_seed) * 2 + (part == "test")
            self._negatives[part] = draw_negatives(NegativeSampler(self.everything), self.parts[part][0],
                                                   int(self.ecfg.n_negatives), seed)
        return self._negatives[part]
