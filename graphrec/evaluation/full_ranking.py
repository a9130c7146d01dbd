"""Full-ranking evaluation: every user with held-out positives ranks all items, on the model's device.

Items the user interacted with in the masking splits (train at validation; train + valid at test) get −inf.
Users are processed in blocks; dot-product models are scored with one GEMM per block from ``embeddings()``.
Users without positives in the evaluated split are left out and counted (``n_users_skipped``).
"""

from __future__ import annotations

import time

import torch

from graphrec.evaluation.metrics import auc_from_scores, parse_metric, ranking_metrics
from graphrec.models.base import Recommender


class UserItemCSR:
    """Per-user item lists in CSR form (torch), for masks and targets."""

    def __init__(self, user: torch.Tensor, item: torch.Tensor, n_users: int, n_items: int):
        key = torch.unique(user.long() * n_items + item.long())
        self.n_users, self.n_items = n_users, n_items
        self.indices = key % n_items
        self.indptr = torch.zeros(n_users + 1, dtype=torch.long)
        self.indptr[1:] = torch.cumsum(torch.bincount(key // n_items, minlength=n_users), 0)

    def counts(self) -> torch.Tensor:
        return self.indptr[1:] - self.indptr[:-1]

    def gather(self, users: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(row position within ``users``, item) of every stored entry of those users."""
        starts, ends = self.indptr[users], self.indptr[users + 1]
        counts = ends - starts
        rows = torch.repeat_interleave(torch.arange(users.numel()), counts)
        offsets = torch.arange(int(counts.sum())) - torch.repeat_interleave(torch.cumsum(counts, 0) - counts, counts)
        return rows, self.indices[starts[rows] + offsets]

    def dense_rows(self, users: torch.Tensor, device: torch.device) -> torch.Tensor:
        rows, cols = self.gather(users)
        out = torch.zeros(users.numel(), self.n_items, dtype=torch.bool, device=device)
        out[rows.to(device), cols.to(device)] = True
        return out


class FullRankingEvaluator:
    """Mean of each ``name@k`` over evaluated users, plus ``auc`` when asked."""

    def __init__(self, metrics: list[str], block_size: int = 2048, max_block_elements: int = 50_000_000):
        self.metrics = list(metrics)
        parsed = [parse_metric(m) for m in self.metrics]
        self.ks = sorted({k for _, k in parsed if k is not None})
        self.names = sorted({n for n, k in parsed if k is not None})
        self.with_auc = any(n == "auc" for n, _ in parsed)
        self.block_size, self.max_block_elements = block_size, max_block_elements

    @torch.no_grad()
    def evaluate(self, model: Recommender, target: UserItemCSR, mask: list[UserItemCSR]) -> dict[str, float]:
        start = time.perf_counter()
        was_training = model.training
        model.eval()
        device = next(model.parameters()).device
        users = torch.nonzero(target.counts() > 0).flatten()
        emb = model.embeddings()
        block = max(1, min(self.block_size, self.max_block_elements // max(target.n_items, 1)))
        sums: dict[str, float] = {}
        max_k = min(max(self.ks), target.n_items) if self.ks else 0
        for lo in range(0, users.numel(), block):
            ub = users[lo:lo + block]
            ub_dev = ub.to(device)
            scores = emb[0][ub_dev] @ emb[1].T if emb is not None else model.score(ub_dev)
            scores = scores.float()
            excluded = torch.zeros_like(scores, dtype=torch.bool)
            for m in mask:
                rows, cols = m.gather(ub)
                excluded[rows.to(device), cols.to(device)] = True
            scores = scores.masked_fill(excluded, float("-inf"))
            positive = target.dense_rows(ub, device)
            n_pos = positive.sum(1)
            values = {}
            if self.ks:
                top = scores.topk(max_k, dim=1).indices
                values.update(ranking_metrics(positive.gather(1, top), n_pos, self.ks, self.names))
            if self.with_auc:
                values["auc"] = auc_from_scores(scores, positive, ~excluded)
            for key, v in values.items():
                sums[key] = sums.get(key, 0.0) + float(v.double().sum())
        n = max(users.numel(), 1)
        out = {key: sums.get(key, 0.0) / n for key in self.metrics}
        out["n_users"] = int(users.numel())
        out["n_users_skipped"] = int(target.n_users - users.numel())
        out["eval_s"] = time.perf_counter() - start
        model.train(was_training)
        return out
