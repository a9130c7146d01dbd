"""Sampled evaluation: each held-out positive ranked against N sampled non-interacted items.

rank = #{negatives with score ≥ the positive's} (ties count against the positive, as in NAIS' protocol);
HR@K = 1[rank < K]; NDCG@K = 1[rank < K] / log2(rank + 2). Negatives come from a seeded generator, so every
evaluation of a split sees the same candidates.
"""

from __future__ import annotations

import time

import torch

from graphrec.data.sampler import NegativeSampler
from graphrec.evaluation.metrics import parse_metric
from graphrec.models.base import Recommender


class SampledEvaluator:
    def __init__(self, metrics: list[str], n_negatives: int = 99, block_size: int = 4096, seed: int = 0):
        self.metrics = list(metrics)
        for name, k in map(parse_metric, self.metrics):
            if name not in ("hit", "ndcg") or k is None:
                raise ValueError(f"sampled evaluation supports hit@K and ndcg@K, not '{name}'")
        self.n_negatives, self.block_size, self.seed = n_negatives, block_size, seed

    @torch.no_grad()
    def evaluate(self, model: Recommender, user: torch.Tensor, item: torch.Tensor,
                 sampler: NegativeSampler) -> dict[str, float]:
        """``user``/``item``: held-out pairs; ``sampler``: built over all of the user's known interactions."""
        start = time.perf_counter()
        was_training = model.training
        model.eval()
        device = next(model.parameters()).device
        gen = torch.Generator().manual_seed(self.seed)
        negatives = sampler.sample(user, self.n_negatives, gen)
        ranks = []
        for lo in range(0, user.numel(), self.block_size):
            u = user[lo:lo + self.block_size].to(device)
            cand = torch.cat([item[lo:lo + self.block_size, None], negatives[lo:lo + self.block_size]], 1).to(device)
            s = model.score(u, cand).float()
            ranks.append((s[:, 1:] >= s[:, :1]).sum(1).cpu())
        rank = torch.cat(ranks).double()
        out: dict[str, float] = {}
        for key in self.metrics:
            name, k = parse_metric(key)
            inside = rank < k
            value = inside.double() if name == "hit" else torch.where(inside, 1.0 / torch.log2(rank + 2), 0.0)
            out[key] = float(value.mean())
        out["n_users"] = int(torch.unique(user).numel())
        out["n_users_skipped"] = 0
        out["eval_s"] = time.perf_counter() - start
        model.train(was_training)
        return out
