"""The records side of the ``ctr`` task: impression splits, history pools and batches with time-causal histories.

Splits (``split_impressions``), each an int8 label per impression (0 train, 1 valid, 2 test):
- ``temporal``: per user, impressions in time order, the first ``ratios[0]`` share train, the next
  ``ratios[1]`` valid, the rest test (ALPINE / MTIN: each user's later behaviour is predicted from earlier);
- ``day``: by calendar day (UTC) over the whole log: the last ``test_days`` days with impressions are test, the
  ``valid_days`` before them valid;
- ``fixed``: the source's own labels (``impressions['split']``, e.g. MicroVideo-1.7M's train / test files).

History pools (DESIGN.md, "Tasks"): an impression of a part may look back only at the parts before it, as a
deployed model would have: train at train, train at valid, train + valid at test. The impression's own part is
never in its pool, so no valid or test label reaches a feature of its own part, and nothing of valid or test
reaches training in any way. Within a pool, histories hold only records strictly before the impression's time
(``graphrec.data.histories``).

A batch is a dict of tensors: ``user``, ``item``, ``label`` (float 0/1), ``time`` [B] and, for the clicked
(``pos``) and non-clicked (``neg``) histories, ``{pos,neg}_items`` [B, L] (``n_items`` as padding),
``{pos,neg}_times`` [B, L] and ``{pos,neg}_lengths`` [B].
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from graphrec.data.histories import HistoryIndex
from graphrec.errors import ConfigError, DataError

SPLITS = ("temporal", "day", "fixed")
PARTS = {"train": 0, "valid": 1, "test": 2}
DAY_S = 86_400
MS_THRESHOLD = 1e11  # unix seconds reach 1e11 in the year 5138; unix milliseconds passed it in 1973


def time_unit(value: float | str, times: np.ndarray) -> float:
    """Seconds per timestamp unit: ``value``, or for ``auto`` 1e-3 when the times look like unix milliseconds."""
    if value == "auto":
        return 1e-3 if times.size and float(np.abs(times).max()) > MS_THRESHOLD else 1.0
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        raise ConfigError(f"eval.time_unit_s: expected a positive number of seconds or 'auto', got {value!r}")
    return float(value)


def split_impressions(imp: dict[str, np.ndarray], how: str, ratios: Sequence[float] = (0.8, 0.1, 0.1),
                      valid_days: int = 1, test_days: int = 1, time_unit_s: float = 1.0) -> np.ndarray:
    """Split labels per impression (module doc); ``time_unit_s`` is the length of one time unit in seconds
    (1e-3 for KuaiRand's milliseconds)."""
    if how == "fixed":
        if "split" not in imp:
            raise DataError("eval.split=fixed: the dataset's impressions carry no 'split' column (prepare a "
                            "format with fixed files, or use eval.split=temporal|day)")
        return np.asarray(imp["split"], np.int8)
    user, time = np.asarray(imp["user"], np.int64), np.asarray(imp["timestamp"])
    if how == "temporal":
        if len(ratios) != 3 or min(ratios) < 0 or abs(sum(ratios) - 1) > 1e-6:
            raise ConfigError(f"eval.ratios: expected three non-negative shares summing to 1, got {list(ratios)}")
        order = np.lexsort((np.arange(user.size), time, user))
        _, first, counts = np.unique(user[order], return_index=True, return_counts=True)
        position = np.arange(user.size) - np.repeat(first, counts)
        n = np.repeat(counts, counts)
        labels = np.zeros(user.size, np.int8)
        labels[order] = np.where(position < np.round(n * ratios[0]), 0,
                                 np.where(position < np.round(n * (ratios[0] + ratios[1])), 1, 2))
        return labels
    if how == "day":
        if valid_days < 0 or test_days < 1:
            raise ConfigError(f"eval.valid_days / eval.test_days: need ≥ 0 and ≥ 1, got {valid_days} / {test_days}")
        day = np.floor(time * time_unit_s / DAY_S).astype(np.int64)
        days = np.unique(day)
        if days.size < valid_days + test_days + 1:
            raise DataError(f"eval.split=day: the log spans {days.size} day(s), fewer than valid_days + test_days + "
                            f"one training day ({valid_days} + {test_days} + 1)")
        test_from, valid_from = days[-test_days], days[-test_days - valid_days] if valid_days else days[-test_days]
        return np.where(day >= test_from, 2, np.where(day >= valid_from, 1, 0)).astype(np.int8)
    raise ConfigError(f"eval.split: expected one of {', '.join(SPLITS)}, got '{how}'")


def history_pool(labels: np.ndarray, part: str) -> np.ndarray:
    """Mask of the impressions ``part``'s histories may look at: the parts strictly before it (train for train)."""
    level = PARTS[part]
    return labels == 0 if level <= 1 else labels <= 1


class CtrRecords:
    """One dataset's impressions with their split, answering batches of any part with time-causal histories."""

    def __init__(self, imp: dict[str, np.ndarray], labels: np.ndarray, n_items: int, history_length: int):
        if history_length < 1:
            raise ConfigError(f"task.history_length: must be at least 1, got {history_length}")
        self.user = np.asarray(imp["user"], np.int64)
        self.item = np.asarray(imp["item"], np.int64)
        self.time = np.asarray(imp["timestamp"])
        self.click = np.asarray(imp["click"], np.int8)
        self.labels, self.n_items, self.length = labels, int(n_items), int(history_length)
        self._pools: dict[tuple[str, int], HistoryIndex] = {}

    def rows(self, part: str) -> np.ndarray:
        return np.flatnonzero(self.labels == PARTS[part])

    def _pool(self, part: str, click: int) -> HistoryIndex:
        key = (part if part != "valid" else "train", click)  # valid looks at train, as train does
        if key not in self._pools:
            keep = history_pool(self.labels, part) & (self.click == click)
            self._pools[key] = HistoryIndex(self.user[keep], self.item[keep], self.time[keep])
        return self._pools[key]

    def batch(self, part: str, rows: np.ndarray) -> dict[str, torch.Tensor]:
        """The batch of impressions ``rows`` (all of ``part``) with their clicked and non-clicked histories."""
        user, time = self.user[rows], self.time[rows]
        out = {"user": torch.from_numpy(user), "item": torch.from_numpy(self.item[rows]),
               "label": torch.from_numpy(self.click[rows].astype(np.float32)), "time": torch.from_numpy(time)}
        for name, click in (("pos", 1), ("neg", 0)):
            hist = self._pool(part, click).query(user, time, self.length, pad=self.n_items)
            out[f"{name}_items"] = torch.from_numpy(hist.items)
            out[f"{name}_times"] = torch.from_numpy(hist.times)
            out[f"{name}_lengths"] = torch.from_numpy(hist.lengths)
        return out

    def batches(self, part: str, batch_size: int, generator: torch.Generator | None = None
                ) -> Iterator[dict[str, torch.Tensor]]:
        """``part``'s impressions in batches: shuffled by ``generator`` when given, else in stored order."""
        rows = self.rows(part)
        if generator is not None:
            rows = rows[torch.randperm(rows.size, generator=generator).numpy()]
        for start in range(0, rows.size, batch_size):
            yield self.batch(part, rows[start:start + batch_size])


@dataclass(frozen=True)
class ImpressionSplit:
    """The split of a ctr run, as results.json reports it (``protocol``, ``counts()``)."""

    protocol: str
    labels: np.ndarray
    train_only_users: int = 0

    def counts(self) -> dict[str, int]:
        counts = np.bincount(self.labels.astype(np.int64), minlength=3)
        return {name: int(counts[level]) for name, level in PARTS.items()}


def configured_split(imp: dict[str, np.ndarray], ecfg) -> np.ndarray:
    """``split_impressions`` with the settings of an ``eval=ctr`` config (``conf/eval/ctr.yaml``)."""
    return split_impressions(imp, ecfg.split, list(ecfg.ratios), int(ecfg.valid_days), int(ecfg.test_days),
                             time_unit(ecfg.time_unit_s, np.asarray(imp["timestamp"])))


def build_records(ds, ecfg) -> tuple[CtrRecords, ImpressionSplit]:
    """The dataset's impressions split by ``eval.*`` (``conf/eval/ctr.yaml``), or a DataError without any."""
    if not ds.impressions:
        raise DataError(f"dataset '{ds.name}' has no impressions: click-through models need an impression log "
                        f"(graphrec data prepare kuairand | microvideo | movielens)")
    imp = ds.impressions
    labels = configured_split(imp, ecfg)
    records = CtrRecords(imp, labels, ds.n_items, int(ecfg.history_length))
    return records, ImpressionSplit(f"ctr-{ecfg.split}", labels)
