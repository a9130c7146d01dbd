"""The ``ranking`` task: implicit (user, item) interactions, top-K ranking.

Batches: pairwise (BPR: a positive and its negatives) or pointwise (log loss: a positive followed by its K
negatives labelled 0), as the model's ``sampling`` says, negatives drawn from outside the user's training
items. Evaluation: full ranking over all items (training items masked at validation, training and validation
items at test), or sampled (each held-out positive against ``eval.n_negatives`` fixed distinct candidates the
user never interacted with in any split; ``eval.protocol=sampled``). ``eval.drop_cold_users=true`` leaves
users without a training interaction out of both (MMRec's and RecBole's convention; off by default).
"""

from __future__ import annotations

import torch
from omegaconf import DictConfig

from graphrec.data.interactions import InteractionIndex
from graphrec.data.sampler import NegativeSampler, TrainingBatches
from graphrec.errors import DataError
from graphrec.evaluation.full_ranking import FullRankingEvaluator
from graphrec.evaluation.sampled import SampledEvaluator, draw_negatives
from graphrec.models.base import Recommender


class RankingTask:
    name = "ranking"

    def __init__(self, ecfg: DictConfig, parts: dict[str, tuple[torch.Tensor, torch.Tensor]],
                 csr: dict[str, InteractionIndex], everything: InteractionIndex, dataset_name: str):
        self.ecfg, self.parts, self.csr = ecfg, parts, csr
        self.everything, self.dataset_name = everything, dataset_name
        self._negatives: dict[str, torch.Tensor] = {}

    @property
    def metric_names(self) -> list[str]:
        return list(self.ecfg.metrics)

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
