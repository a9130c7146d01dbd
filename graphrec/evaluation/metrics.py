"""Top-K ranking metrics from a per-user hit matrix, and each metric's direction (``higher_is_better``).

A NaN or infinite score never becomes a good metric: every evaluator counts what it judged from non-finite scores
as misses (a user's whole list in full ranking, a held-out pair in the sampled protocol, an impression predicted
maximally wrong in click-through) and reports how many in ``n_nonfinite``.

``hits[u, r]`` is 1 when the item at rank ``r`` (0-based) of user u's list is a held-out positive;
``n_pos[u]`` is the number of held-out positives. For each K:
- recall@K = Σ_{r<K} hits / n_pos;  precision@K = Σ_{r<K} hits / K;  hit@K = 1[Σ_{r<K} hits > 0];
- ndcg@K = DCG / IDCG with DCG = Σ_{r<K} hits_r / log2(r + 2) and the exact IDCG over min(n_pos, K) items;
- map@K = Σ_{r<K} hits_r · precision@(r+1) / min(n_pos, K);
- mrr@K = 1 / (rank of the first hit + 1), 0 when none within K.
"""

from __future__ import annotations

import torch

from graphrec.errors import ConfigError

RANKING_METRICS = ("recall", "precision", "ndcg", "hit", "map", "mrr")
# the one place a metric's direction is declared: every other metric is better when higher
LOWER_IS_BETTER = frozenset({"logloss"})
# what evaluators add to their metrics for bookkeeping; everything else is a metric, whatever its name
BOOKKEEPING = ("n_users", "n_users_skipped", "n_users_dropped", "n_nonfinite", "eval_s")


def parse_metric(key: str) -> tuple[str, int | None]:
    """``"ndcg@10"`` → ``("ndcg", 10)``; ``"auc"`` → ``("auc", None)``."""
    name, at, k = str(key).partition("@")
    if not at:
        return name, None
    if not k.isdigit() or int(k) < 1:
        raise ConfigError(f"eval.metrics: '{key}' needs a positive integer K after '@'")
    return name, int(k)


def higher_is_better(key: str) -> bool:
    """Whether a larger value of metric ``key`` (``"ndcg@10"``, ``"logloss"``, ``"valid/auc"``) is better."""
    return parse_metric(str(key).rsplit("/", 1)[-1])[0] not in LOWER_IS_BETTER


def improves(value: float, best: float | None, key: str, higher: bool | None = None) -> bool:
    """Whether ``value`` of metric ``key`` beats ``best`` (None: nothing yet); a NaN never does. ``higher``: the
    direction a task declared for the metric (default: the metric's own, ``higher_is_better``)."""
    if value != value:
        return False
    if best is None or best != best:
        return True
    return value > best if (higher_is_better(key) if higher is None else higher) else value < best


def best_of(values: list[float], key: str, higher: bool | None = None) -> int | None:
    """Index of the best of ``values`` (the first among equals; NaN never chosen), None when none is finite;
    ``higher`` as in ``improves``."""
    best: int | None = None
    for i, v in enumerate(values):
        if improves(v, None if best is None else values[best], key, higher):
            best = i
    return best


def optuna_direction(key: str) -> str:
    """``maximize`` or ``minimize``: what an Optuna sweep selecting on metric ``key`` must do."""
    return "maximize" if higher_is_better(key) else "minimize"


def metric_values(results: dict[str, float]) -> dict[str, float]:
    """The metrics of an evaluator's output, without its bookkeeping (user counts, seconds)."""
    return {k: v for k, v in results.items() if k not in BOOKKEEPING}


def check_metrics(metrics: list[str], at_k: tuple[str, ...], plain: tuple[str, ...], protocol: str) -> None:
    """Fail (naming the metric and those available) unless every name is ``<at_k>@K`` or one of ``plain``."""
    for key in metrics:
        name, k = parse_metric(key)
        if (name in at_k and k is not None) or (name in plain and k is None):
            continue
        available = [f"{n}@K" for n in at_k] + list(plain)
        raise ConfigError(f"eval.metrics: '{key}' is not available with eval.protocol={protocol} "
                          f"(available: {', '.join(available)})")


def ranking_metrics(hits: torch.Tensor, n_pos: torch.Tensor, ks: list[int], names: list[str]) -> dict[str, torch.Tensor]:
    """Per-user values ``{f"{name}@{k}": [B]}`` (see the module docstring)."""
    unknown = [n for n in names if n not in RANKING_METRICS]
    if unknown:
        raise ValueError(f"unknown ranking metric(s) {unknown} (choose from {', '.join(RANKING_METRICS)})")
    hits = hits.float()
    n_pos = n_pos.float()
    max_k = hits.shape[1]
    ranks = torch.arange(max_k, device=hits.device, dtype=torch.float32)
    discount = 1.0 / torch.log2(ranks + 2.0)
    cum_hits = hits.cumsum(1)
    dcg = (hits * discount).cumsum(1)
    idcg_table = torch.cat([torch.zeros(1, device=hits.device), discount.cumsum(0)])
    prec_at_r = cum_hits / (ranks + 1.0)
    ap_sum = (hits * prec_at_r).cumsum(1)
    first_hit = torch.where(hits.any(1), hits.argmax(1), torch.full_like(n_pos, max_k, dtype=torch.long))
    out = {}
    for k in ks:
        if k > max_k:
            raise ValueError(f"K={k} exceeds the ranked list length {max_k}")
        got = cum_hits[:, k - 1]
        ideal = torch.minimum(n_pos, torch.tensor(float(k), device=hits.device))
        values = {
            "recall": got / n_pos,
            "precision": got / k,
            "hit": (got > 0).float(),
            "ndcg": dcg[:, k - 1] / idcg_table[ideal.long()],
            "map": ap_sum[:, k - 1] / ideal,
            "mrr": torch.where(first_hit < k, 1.0 / (first_hit.float() + 1.0), torch.zeros_like(n_pos)),
        }
        for name in names:
            out[f"{name}@{k}"] = values[name]
    return out


def auc_from_scores(scores: torch.Tensor, positive: torch.Tensor, candidate: torch.Tensor) -> torch.Tensor:
    """Per-row ROC-AUC of positives vs the other candidates (ties count one half).

    ``scores``, ``positive`` (bool) and ``candidate`` (bool; excluded items False) are ``[B, N]``.
    AUC = (Σ ranks of positives − n⁺(n⁺+1)/2) / (n⁺ n⁻) with average ranks among candidates.
    """
    s = torch.where(candidate, scores, torch.full_like(scores, float("-inf")))
    order = s.argsort(dim=1)
    sorted_s = s.gather(1, order)
    n = s.shape[1]
    pos_idx = torch.arange(1, n + 1, device=s.device, dtype=torch.float64).expand_as(sorted_s)
    # average rank over ties: for each sorted position, mean of the first and last index of its tie group
    new_group = torch.ones_like(sorted_s, dtype=torch.bool)
    new_group[:, 1:] = sorted_s[:, 1:] != sorted_s[:, :-1]
    group_id = new_group.long().cumsum(1) - 1
    first = torch.zeros_like(sorted_s, dtype=torch.float64).scatter_reduce(1, group_id, pos_idx, "amin", include_self=False)
    last = torch.zeros_like(sorted_s, dtype=torch.float64).scatter_reduce(1, group_id, pos_idx, "amax", include_self=False)
    avg_rank_sorted = (first.gather(1, group_id) + last.gather(1, group_id)) / 2.0
    ranks = torch.empty_like(avg_rank_sorted).scatter_(1, order, avg_rank_sorted)
    n_excluded = (~candidate).sum(1, dtype=torch.float64)
    pos = positive & candidate
    n_pos = pos.sum(1, dtype=torch.float64)
    n_neg = candidate.sum(1, dtype=torch.float64) - n_pos
    rank_sum = torch.where(pos, ranks - n_excluded.unsqueeze(1), torch.zeros_like(ranks)).sum(1)
    return ((rank_sum - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg)).float()
