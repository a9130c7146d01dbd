"""Time-causal behaviour histories for click-through tasks, built vectorised.

For each query impression (u, t) and a pool of records the protocol allows (e.g. the training impressions), the
history is the user's last ``length`` pool records with time strictly before t, oldest first:

    H(u, t) = the last L of [r ∈ pool : user(r) = u, time(r) < t], sorted by time.

One sort of the pool by (user, time), one ``searchsorted`` per query for the end of its prefix and one for the
start of its user's block, then a single gather: no Python loop over users or impressions. A record at exactly
the query's time is excluded, so an impression never sees itself or anything simultaneous with it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Histories:
    """Padded histories of Q queries: ``items`` [Q, L] (``pad`` where ``position >= lengths``), their
    ``times`` [Q, L] and ``lengths`` [Q]. Row q holds the ``lengths[q]`` most recent records, oldest first."""

    items: np.ndarray
    times: np.ndarray
    lengths: np.ndarray

    @property
    def mask(self) -> np.ndarray:
        """[Q, L] True on real entries."""
        return np.arange(self.items.shape[1])[None, :] < self.lengths[:, None]


def last_before(pool_user: np.ndarray, pool_item: np.ndarray, pool_time: np.ndarray, query_user: np.ndarray,
                query_time: np.ndarray, length: int, pad: int) -> Histories:
    """The last ``length`` pool records of each query's user strictly before its time (see the module doc)."""
    if length < 1:
        raise ValueError(f"history length must be at least 1, got {length}")
    pool_user, query_user = np.asarray(pool_user, np.int64), np.asarray(query_user, np.int64)
    times = np.unique(np.concatenate([np.asarray(pool_time), np.asarray(query_time)]))
    n_ranks = np.int64(times.size + 1)
    pool_key = pool_user * n_ranks + np.searchsorted(times, pool_time)
    order = np.argsort(pool_key, kind="stable")
    pool_key, items, when = pool_key[order], np.asarray(pool_item)[order], np.asarray(pool_time)[order]
    end = np.searchsorted(pool_key, query_user * n_ranks + np.searchsorted(times, query_time), side="left")
    start = np.searchsorted(pool_key, query_user * n_ranks, side="left")
    lengths = np.minimum(end - start, length)
    index = (end - lengths)[:, None] + np.arange(length)[None, :]
    valid = np.arange(length)[None, :] < lengths[:, None]
    index = np.where(valid, index, 0)
    if items.size == 0:
        q = query_user.shape[0]
        return Histories(np.full((q, length), pad, np.int64), np.zeros((q, length), when.dtype), lengths)
    return Histories(np.where(valid, items[index], pad).astype(np.int64), np.where(valid, when[index], 0),
                     lengths.astype(np.int64))
