"""Sampled evaluation: each held-out positive ranked against N distinct items its user never interacted with.

rank = #{negatives with score ≥ the positive's} (ties count against the positive, as in NAIS' protocol);
HR@K = 1[rank < K]; NDCG@K = 1[rank < K] / log2(rank + 2); MRR@K = 1[rank < K] / (rank + 1). A pair whose
candidates' scores hold a NaN or an infinity is a miss (every comparison with a NaN is false, which would rank
it first) and is counted in ``n_nonfinite``. The candidates are drawn once (``draw_negatives``,
seeded, without replacement, from the items outside all of the user's interactions in every split) and kept,
so every evaluation of a split sees the same candidates.
"""

from __future__ import annotations

import time

import torch

from graphrec import distributed as ddp
from graphrec.data.sampler import NegativeSampler
from graphrec.evaluation.metrics import check_metrics, parse_metric
from graphrec.models.base import Recommender


def draw_negatives(sampler: NegativeSampler, user: torch.Tensor, n_negatives: int, seed: int) -> torch.Tensor:
    """``[len(user), n_negatives]`` distinct non-interacted items per held-out pair, from a seeded generator."""
    return sampler.sample_distinct(user, n_negatives, torch.Generator().manual_seed(seed))


class SampledEvaluator:
    at_k, plain = ("hit", "ndcg", "mrr"), ()

    @classmethod
    def check(cls, metrics: list[str]) -> None:
        check_metrics(metrics, cls.at_k, cls.plain, "sampled")

    def __init__(self, metrics: list[str], block_size: int = 4096):
        self.check(metrics)
        self.metrics = list(metrics)
        self.block_size = block_size

    @torch.no_grad()
    def evaluate(self, model: Recommender, user: torch.Tensor, item: torch.Tensor, negatives: torch.Tensor,
                 n_users: int) -> dict[str, float]:
        """``user``/``item``: held-out pairs; ``negatives``: their candidates (``draw_negatives``);
        ``n_users``: all users, so those without a held-out pair are counted as skipped."""
        start = time.perf_counter()
        was_training = model.training
        model.eval()
        device = next(model.parameters()).device
        shard, ranks = ddp.context(), {}
        for b, lo in enumerate(range(0, user.numel(), self.block_size)):
            if not shard.owns(b):  # under torchrun: this rank's blocks, gathered below in block order
                continue
            u = user[lo:lo + self.block_size].to(device)
            cand = torch.cat([item[lo:lo + self.block_size, None], negatives[lo:lo + self.block_size]], 1).to(device)
            s = model.score(u, cand).float()
            rank = (s[:, 1:] >= s[:, :1]).sum(1)
            ranks[b] = torch.where(torch.isfinite(s).all(1), rank, -1).cpu()  # -1: judged from non-finite scores
        gathered = ddp.gather_blocks(ranks)
        rank = torch.cat([gathered[b] for b in sorted(gathered)]).double() if gathered else torch.zeros(0).double()
        out: dict[str, float] = {}
        for key in self.metrics:
            name, k = parse_metric(key)
            inside = (rank >= 0) & (rank < k)
            gain = {"hit": torch.ones_like(rank), "ndcg": 1.0 / torch.log2(rank + 2), "mrr": 1.0 / (rank + 1)}[name]
            value = torch.where(inside, gain, 0.0)
            out[key] = float(value.mean())
        evaluated = int(torch.unique(user).numel())
        out["n_users"] = evaluated
        out["n_nonfinite"] = int((rank < 0).sum())
        out["n_users_skipped"] = int(n_users) - evaluated
        out["eval_s"] = time.perf_counter() - start
        model.train(was_training)
        return out
