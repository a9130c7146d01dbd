"""Time-causal behaviour histories for click-through tasks, built vectorised.

For each query impression (u, t) and a pool of records the protocol allows (e.g. the training impressions), the
history is the user's last ``length`` pool records with time strictly before t, oldest first:

    H(u, t) = the last L of [r ∈ pool : user(r) = u, time(r) < t], sorted by time.

One sort of the pool by (user, time) (``HistoryIndex``), then per batch of queries one ``searchsorted`` for the
end of its prefix, one for the start of its user's block and a single gather: no Python loop over users or
impressions. A record at exactly the query's time is excluded, so an impression never sees itself or anything
simultaneous with it.
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


class HistoryIndex:
    """A pool of (user, item, time) records sorted once by (user, time), answering history queries in batches.

    Keys are ``user · (T + 1) + rank(time)`` with ``rank`` over the pool's distinct times; a query at time t
    looks up ``user · (T + 1) + #{pool times < t}``, so ``searchsorted`` lands exactly after the user's last
    record strictly before t, whatever the time unit."""

    def __init__(self, user: np.ndarray, item: np.ndarray, time: np.ndarray):
        self.times = np.unique(np.asarray(time))
        self.stride = np.int64(self.times.size + 1)
        key = np.asarray(user, np.int64) * self.stride + np.searchsorted(self.times, time)
        order = np.argsort(key, kind="stable")
        self.key, self.item, self.time = key[order], np.asarray(item, np.int64)[order], np.asarray(time)[order]

    def __len__(self) -> int:
        return int(self.key.size)

    def query(self, user: np.ndarray, time: np.ndarray, length: int, pad: int) -> Histories:
        """The last ``length`` records of each (user, time) query strictly before its time (module doc)."""
        if length < 1:
            raise ValueError(f"history length must be at least 1, got {length}")
        user = np.asarray(user, np.int64)
        end = np.searchsorted(self.key, user * self.stride + np.searchsorted(self.times, time), side="left")
        start = np.searchsorted(self.key, user * self.stride, side="left")
        lengths = np.minimum(end - start, length).astype(np.int64)
        valid = np.arange(length)[None, :] < lengths[:, None]
        if len(self) == 0:
            return Histories(np.full(valid.shape, pad, np.int64), np.zeros(valid.shape, self.time.dtype), lengths)
        index = np.where(valid, (end - lengths)[:, None] + np.arange(length)[None, :], 0)
        return Histories(np.where(valid, self.item[index], pad), np.where(valid, self.time[index], 0), lengths)
