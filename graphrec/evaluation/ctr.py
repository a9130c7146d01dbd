"""Click-through metrics over scored impressions (MTIN / ALPINE protocol), all vectorised over users.

- ``auc``: one global ROC-AUC over all impressions, the Mann–Whitney statistic with tied scores counted half:
  AUC = (Σ_{clicked} rank − n₊(n₊+1)/2) / (n₊ n₋), ranks averaged over ties.
- ``logloss``: mean binary cross-entropy of the logits.
- ``user_auc``: the same AUC within each user, averaged over the users having both a click and a non-click.
- ``precision@K`` / ``recall@K`` / ``f1@K``: per user, candidates sorted by score (ties broken by position, a
  deterministic order), hits = clicks among the first min(K, n_u); P = hits / min(K, n_u), R = hits / #clicks
  (0 for a user without clicks, as in ALPINE's released code); both averaged over the users with candidates,
  F1 = 2PR / (P + R) from the averages.

A NaN or infinite logit is taken as the most wrong prediction its label allows (−∞ for a click, +∞ for a
non-click: last in AUC and P/R, an infinite logloss) and counted in ``n_nonfinite``; a NaN would otherwise sort
as the highest score.
"""

from __future__ import annotations

import time
from collections.abc import Iterable

import numpy as np
import torch

from graphrec import distributed as ddp
from graphrec.evaluation.metrics import check_metrics, parse_metric

CTR_METRICS = ("auc", "user_auc", "logloss")
CTR_AT_K = ("precision", "recall", "f1")


def _tied_ranks(group: np.ndarray, score: np.ndarray) -> np.ndarray:
    """1-based ranks of ``score`` within each ``group`` (ties averaged)."""
    order = np.lexsort((score, group))
    g, s = group[order], score[order]
    new_run = np.r_[True, (g[1:] != g[:-1]) | (s[1:] != s[:-1])]
    new_group = np.r_[True, g[1:] != g[:-1]]
    pos = np.arange(g.size)
    run_id = np.cumsum(new_run) - 1
    run_first = pos[new_run]
    run_last = np.r_[run_first[1:], g.size] - 1
    group_first = pos[new_group][np.cumsum(new_group) - 1]
    ranks = np.empty(g.size)
    ranks[order] = (run_first[run_id] + run_last[run_id]) / 2.0 - group_first + 1.0
    return ranks


def grouped_auc(group: np.ndarray, label: np.ndarray, score: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """AUC per group (NaN where a group lacks a click or a non-click) and the groups' ids (sorted)."""
    group = np.asarray(group, np.int64)
    label = np.asarray(label).astype(bool)
    ranks = _tied_ranks(group, np.asarray(score, np.float64))
    ids, inverse = np.unique(group, return_inverse=True)
    n_pos = np.bincount(inverse, weights=label, minlength=ids.size)
    n_all = np.bincount(inverse, minlength=ids.size)
    rank_sum = np.bincount(inverse, weights=ranks * label, minlength=ids.size)
    n_neg = n_all - n_pos
    with np.errstate(invalid="ignore", divide="ignore"):
        auc = (rank_sum - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg)
    return np.where((n_pos > 0) & (n_neg > 0), auc, np.nan), ids


def logloss(label: np.ndarray, logit: np.ndarray) -> float:
    """Mean of −[y log σ(z) + (1 − y) log(1 − σ(z))], computed stably from logits."""
    z, y = np.asarray(logit, np.float64), np.asarray(label).astype(bool)
    m = np.where(y, -z, z)  # the loss is softplus(−z) for a click, softplus(z) otherwise (finite for z = ∓∞)
    with np.errstate(invalid="ignore"):
        return float(np.mean(np.maximum(m, 0) + np.log1p(np.exp(-np.abs(m)))))


def precision_recall_at(user: np.ndarray, label: np.ndarray, score: np.ndarray, k: int) -> tuple[float, float]:
    """User-averaged P@K = hits / min(K, n_u) and R@K = hits / #clicks (0 without clicks)."""
    user = np.asarray(user, np.int64)
    label = np.asarray(label).astype(bool)
    order = np.lexsort((np.arange(user.size), -np.asarray(score, np.float64), user))
    u, y = user[order], label[order]
    ids, first, n = np.unique(u, return_index=True, return_counts=True)
    top = np.arange(u.size) - np.repeat(first, n) < k  # position within the user's sorted candidates
    row = np.repeat(np.arange(ids.size), n)
    hits = np.bincount(row, weights=(y & top), minlength=ids.size)
    clicks = np.bincount(row, weights=y, minlength=ids.size)
    precision = hits / np.minimum(k, n)
    recall = np.divide(hits, clicks, out=np.zeros_like(hits), where=clicks > 0)
    return float(precision.mean()), float(recall.mean())


def ctr_metrics(user: np.ndarray, label: np.ndarray, logit: np.ndarray, ks: tuple[int, ...] = (10, 50)) -> dict[str, float]:
    """Every metric of the module docstring for one split's impressions."""
    label = np.asarray(label).astype(bool)
    out = {"auc": float(grouped_auc(np.zeros(label.size, np.int64), label, logit)[0][0]),
           "user_auc": float(np.nanmean(a)) if np.isfinite(a := grouped_auc(user, label, logit)[0]).any()
           else float("nan"),
           "logloss": logloss(label, logit)}
    for k in ks:
        p, r = precision_recall_at(user, label, logit, k)
        out[f"precision@{k}"], out[f"recall@{k}"] = p, r
        out[f"f1@{k}"] = 2 * p * r / (p + r) if p + r > 0 else 0.0
    return out


def most_wrong_where_nonfinite(label: np.ndarray, logit: np.ndarray) -> tuple[np.ndarray, int]:
    """Non-finite logits replaced by the most wrong value for their label (module doc), and their count."""
    logit = np.asarray(logit, np.float64)
    bad = ~np.isfinite(logit)
    if not bad.any():
        return logit, 0
    worst = np.where(np.asarray(label).astype(bool), -np.inf, np.inf)
    return np.where(bad, worst, logit), int(bad.sum())


class CtrEvaluator:
    """Scores one part's impressions with ``model.predict(batch) -> logits [B]`` and reports the requested
    metrics (names as in the module doc; ``precision@K`` etc. for any K)."""

    at_k, plain = CTR_AT_K, CTR_METRICS

    @classmethod
    def check(cls, metrics: list[str]) -> None:
        check_metrics(metrics, cls.at_k, cls.plain, "ctr")

    def __init__(self, metrics: list[str], batch_size: int = 4096):
        self.check(metrics)
        self.metrics, self.batch_size = list(metrics), int(batch_size)
        self.ks = tuple(sorted({k for name, k in map(parse_metric, self.metrics) if k is not None}))

    @torch.no_grad()
    def evaluate(self, model: torch.nn.Module, batches: Iterable[dict[str, torch.Tensor]]) -> dict[str, float]:
        start = time.perf_counter()
        was_training = model.training
        model.eval()
        device = next(model.parameters()).device
        shard, scored = ddp.context(), {}
        try:
            for b, batch in enumerate(batches):
                if shard.owns(b):  # under torchrun: this rank's batches, gathered below in batch order
                    logit = model.predict({k: v.to(device) for k, v in batch.items()}).float().cpu().numpy()
                    scored[b] = (batch["user"].numpy(), batch["label"].numpy(), logit)
        finally:
            model.train(was_training)
        gathered = ddp.gather_blocks(scored)
        user, label, logit = (np.concatenate([gathered[b][j] for b in sorted(gathered)]) for j in range(3))
        logit, n_nonfinite = most_wrong_where_nonfinite(label, logit)
        values = ctr_metrics(user, label, logit, self.ks)
        out = {key: values[key] for key in self.metrics}
        out.update(n_users=int(np.unique(user).size), n_nonfinite=n_nonfinite,
                   eval_s=time.perf_counter() - start)
        return out
