"""Full-ranking evaluation: every user with held-out positives ranks all items, on the model's device.

Items the user interacted with in the masking splits (train at validation; train + valid at test) get −inf.
Users are processed in blocks (sharded over ranks under torchrun); dot-product models are scored with one GEMM per block from ``embeddings()``.
Users without positives in the evaluated split are left out and counted (``n_users_skipped``); so are the
users ``keep`` excludes (``n_users_dropped``: e.g. cold users, ``eval.drop_cold_users``). A user whose scores hold
a NaN or an infinity (before the masks) scores 0 in every metric and is counted in ``n_nonfinite``: ``topk``
would rank a NaN first, a hit with NDCG 1.
"""

from __future__ import annotations

import time

import torch

from graphrec import distributed as ddp
from graphrec.data.interactions import InteractionIndex
from graphrec.evaluation.metrics import RANKING_METRICS, auc_from_scores, check_metrics, parse_metric, ranking_metrics
from graphrec.models.base import Recommender


class FullRankingEvaluator:
    """Mean of each ``name@k`` over evaluated users, plus ``auc`` when asked."""

    at_k, plain = RANKING_METRICS, ("auc",)

    @classmethod
    def check(cls, metrics: list[str]) -> None:
        check_metrics(metrics, cls.at_k, cls.plain, "full")

    def __init__(self, metrics: list[str], block_size: int = 2048, max_block_elements: int = 50_000_000):
        self.check(metrics)
        self.metrics = list(metrics)
        parsed = [parse_metric(m) for m in self.metrics]
        self.ks = sorted({k for _, k in parsed if k is not None})
        self.names = sorted({n for n, k in parsed if k is not None})
        self.with_auc = any(n == "auc" for n, _ in parsed)
        self.block_size, self.max_block_elements = block_size, max_block_elements

    @torch.no_grad()
    def evaluate(self, model: Recommender, target: InteractionIndex, mask: list[InteractionIndex],
                 keep: torch.Tensor | None = None) -> dict[str, float]:
        """``keep``: optional bool [n_users]; users outside it are not evaluated."""
        start = time.perf_counter()
        was_training = model.training
        model.eval()
        device = next(model.parameters()).device
        with_positives = target.counts() > 0
        users = torch.nonzero(with_positives if keep is None else with_positives & keep).flatten()
        emb = model.embeddings()
        block = max(1, min(self.block_size, self.max_block_elements // max(target.n_items, 1)))
        shard = ddp.context()
        block_sums: dict[int, dict[str, float]] = {}
        max_k = min(max(self.ks), target.n_items) if self.ks else 0
        for b, lo in enumerate(range(0, users.numel(), block)):
            if not shard.owns(b):
                continue
            ub = users[lo:lo + block]
            ub_dev = ub.to(device)
            scores = emb[0][ub_dev] @ emb[1].T if emb is not None else model.score(ub_dev)
            scores = scores.float()
            nonfinite = ~torch.isfinite(scores).all(1)
            for m in mask:  # in place: the score block is ours
                rows, cols = m.gather(ub)
                scores[rows.to(device), cols.to(device)] = float("-inf")
            n_pos = target.counts()[ub].to(device)
            values = {}
            if self.ks:
                top = scores.topk(max_k, dim=1).indices
                values.update(ranking_metrics(target.contains(ub_dev.unsqueeze(1), top), n_pos, self.ks, self.names))
            if self.with_auc:
                values["auc"] = auc_from_scores(scores, target.dense_rows(ub, device), scores > float("-inf"))
            block_sums[b] = {key: float(torch.where(nonfinite, 0.0, v.double()).sum()) for key, v in values.items()}
            block_sums[b]["n_nonfinite"] = float(nonfinite.sum())
        sums: dict[str, float] = {}
        for _, values_of_block in sorted(ddp.gather_blocks(block_sums).items()):
            for key, v in values_of_block.items():
                sums[key] = sums.get(key, 0.0) + v
        n = max(users.numel(), 1)
        out = {key: sums.get(key, 0.0) / n for key in self.metrics}
        out["n_nonfinite"] = int(sums.get("n_nonfinite", 0))
        out["n_users"] = int(users.numel())
        out["n_users_skipped"] = int(target.n_users - int(with_positives.sum()))
        out["n_users_dropped"] = int(with_positives.sum()) - int(users.numel())
        out["eval_s"] = time.perf_counter() - start
        model.train(was_training)
        return out
