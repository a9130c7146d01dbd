"""Candidate generation by topic queues (MTL §III-B1), and the popularity and random queues it is judged against.

From the training impressions of the click-through split (``eval.*``): each item's exposure (impressions)
and CTR (clicks / impressions). A topic's queue holds its items with exposure ≥ τ₁ and CTR ≥ τ₂, ranked by
CTR (then clicks), plus randomly drawn fresh items — exposure < τ₁ — making up ``fresh_share`` of the queue,
placed at evenly spaced ranks. A user's candidates: the topics of the user's last N₁ training clicks are
counted, the N₂ most frequent chosen, and their queues read round-robin by rank (most frequent topic first),
skipping items the user already saw in training and repeats, until N₃ candidates. A user without a training
click gets the popularity queue. Popularity queue: items by training clicks; random queue: N₃ unseen items
drawn uniformly. Score: recall of each user's clicks in the evaluated part (``test``: the later clicks the
split holds out), averaged over users with at least one such click.
"""

from __future__ import annotations

import numpy as np
from omegaconf import DictConfig

from graphrec.data.dataset import Dataset
from graphrec.errors import DataError
from graphrec.tasks.ctr_data import PARTS, configured_split


def item_stats(item: np.ndarray, click: np.ndarray, n_items: int) -> tuple[np.ndarray, np.ndarray]:
    exposure = np.bincount(item, minlength=n_items)
    clicks = np.bincount(item, weights=click, minlength=n_items)
    return exposure, clicks


def topic_queues(topic_item: np.ndarray, topic: np.ndarray, exposure: np.ndarray, clicks: np.ndarray,
                 tau1: float, tau2: float, fresh_share: float, rng: np.random.Generator) -> list[np.ndarray]:
    """One ranked item array per topic (module doc)."""
    ctr = clicks / np.maximum(exposure, 1)
    qualified = (exposure >= tau1) & (ctr >= tau2)
    fresh = exposure < tau1
    n_topics = int(topic.max()) + 1 if topic.size else 0
    order = np.argsort(topic, kind="stable")
    bounds = np.searchsorted(topic[order], np.arange(n_topics + 1))
    queues = []
    for t in range(n_topics):
        members = topic_item[order[bounds[t]:bounds[t + 1]]]
        good = members[qualified[members]]
        good = good[np.lexsort((-clicks[good], -ctr[good]))]
        pool = members[fresh[members]]
        n_fresh = min(pool.size, int(round(good.size * fresh_share / max(1.0 - fresh_share, 1e-9))))
        new = rng.choice(pool, n_fresh, replace=False) if n_fresh else pool[:0]
        slots = np.round(np.linspace(0, good.size + n_fresh, n_fresh + 2)[1:-1]).astype(np.int64)
        queue = np.empty(good.size + n_fresh, dtype=np.int64)
        is_new = np.zeros(queue.size, bool)
        is_new[np.clip(slots, 0, queue.size - 1)] = True
        if is_new.sum() < n_fresh:  # colliding slots (tiny queues): fresh ones at the end
            is_new[np.flatnonzero(~is_new)[-(n_fresh - is_new.sum()):]] = True
        queue[is_new], queue[~is_new] = new, good
        queues.append(queue)
    return queues


def _round_robin(queues: list[np.ndarray], seen: np.ndarray, n: int) -> np.ndarray:
    """Items of ``queues`` read by rank across queues (queue order breaks ties), unseen, first occurrence, ``n``."""
    if not queues:
        return np.zeros(0, np.int64)
    items = np.concatenate(queues)
    rank = np.concatenate([np.arange(q.size) for q in queues])
    which = np.concatenate([np.full(q.size, j) for j, q in enumerate(queues)])
    items = items[np.lexsort((which, rank))]
    items = items[~seen[items]]
    _, first = np.unique(items, return_index=True)
    return items[np.sort(first)][:n]


def queue_recall(ds: Dataset, topic_item: np.ndarray, topic: np.ndarray, ecfg: DictConfig, qcfg: DictConfig,
                 part: str = "test", seed: int = 0) -> list[dict]:
    """Recall@N₃ of the topic, popularity and random queues on ``part``'s clicks (module doc)."""
    if not ds.impressions:
        raise DataError(f"dataset '{ds.name}' has no impressions: topic queues need a click log")
    imp = ds.impressions
    user, item = np.asarray(imp["user"]), np.asarray(imp["item"])
    click, time = np.asarray(imp["click"]).astype(np.int64), np.asarray(imp["timestamp"])
    labels = configured_split(imp, ecfg)
    train = labels == 0
    exposure, clicks = item_stats(item[train], click[train], ds.n_items)
    rng = np.random.default_rng(seed)
    queues = topic_queues(topic_item, topic, exposure, clicks, float(qcfg.tau1), float(qcfg.tau2),
                          float(qcfg.fresh_share), rng)
    item_topics = [[] for _ in range(ds.n_items)]
    for i, t in zip(topic_item.tolist(), topic.tolist()):
        item_topics[i].append(t)
    popular = np.lexsort((np.arange(ds.n_items), -clicks))
    n1, n2, n3 = int(qcfg.n1), int(qcfg.n2), int(qcfg.n3)
    target = (labels == PARTS[part]) & (click == 1)
    hits = {"topic": [], "popularity": [], "random": []}
    fallback = 0
    order = np.lexsort((time, user))  # by user, then time: each user's rows are one slice
    bounds = np.searchsorted(user[order], np.arange(ds.n_users + 1))
    for u in np.unique(user[target]):
        rows = order[bounds[u]:bounds[u + 1]]
        truth = np.unique(item[rows[target[rows]]])
        seen = np.zeros(ds.n_items, bool)
        seen[item[rows[train[rows]]]] = True
        history = item[rows[train[rows] & (click[rows] == 1)]][-n1:]
        counts = np.bincount([t for i in history for t in item_topics[i]], minlength=len(queues))
        pop = popular[~seen[popular]][:n3]
        if counts.sum() == 0:
            fallback += 1
            cands = pop
        else:
            top = np.argsort(-counts, kind="stable")[:n2]
            cands = _round_robin([queues[t] for t in top if counts[t] > 0], seen, n3)
        unseen = np.flatnonzero(~seen)
        rand = rng.choice(unseen, min(n3, unseen.size), replace=False)
        for name, c in (("topic", cands), ("popularity", pop), ("random", rand)):
            hits[name].append(np.isin(truth, c).mean())
    n_users = len(hits["topic"])
    return [{"queue": name, "part": part, f"recall@{n3}": float(np.mean(v)) if v else 0.0, "users": n_users,
             "users_without_training_clicks": fallback if name == "topic" else 0,
             "qualified_items": int(((exposure >= float(qcfg.tau1))
                                     & (clicks / np.maximum(exposure, 1) >= float(qcfg.tau2))).sum())}
            for name, v in hits.items()]
