"""Train / valid / test splits as index sets into a dataset's interactions (seeded, vectorised).

Protocols (``eval.split``):
- ``fixed``: the split stored with the dataset (from the source files);
- ``random``: one global random permutation cut by ``ratios`` (HUIGN: 8:1:1);
- ``per_user``: each user's interactions shuffled and cut by ``ratios`` (MMRec 8:1:1, A²BM²GL 80/20). A user
  with fewer than ``min_user_interactions`` interactions keeps all of them in training: with floor-rounded
  shares such a user would get no valid/test item at 8:1:1, as in MMRec's preprocessing;
- ``loo``: leave-one-out, the user's latest (``loo_order=latest``) or a random (``random``) interaction is
  the test item, the next one the valid item (``ratios[1] > 0``); users with fewer than 3 interactions
  (2 without valid) stay in training only;
- ``temporal``: a global time cut: the earliest ``ratios[0]`` share of interactions trains, then valid, test;
- ``auto``: ``fixed`` when the dataset carries a split, else ``random``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from graphrec.data.dataset import SPLIT_NAMES, Dataset
from graphrec.errors import ConfigError, DataError

PROTOCOLS = ("auto", "fixed", "random", "per_user", "loo", "temporal")


@dataclass
class Split:
    """Index arrays into the dataset's interaction arrays."""

    train: np.ndarray
    valid: np.ndarray
    test: np.ndarray
    protocol: str
    train_only_users: int = 0  # loo: users with too few interactions for a held-out item (kept in training)

    def part(self, name: str) -> np.ndarray:
        return getattr(self, name)

    def counts(self) -> dict[str, int]:
        return {name: int(self.part(name).shape[0]) for name in SPLIT_NAMES}


def make_split(ds: Dataset, protocol: str = "auto", ratios=(0.8, 0.1, 0.1), seed: int = 0,
               loo_order: str = "random", min_user_interactions: int = 10) -> Split:
    """Split ``ds`` by ``protocol`` (see the module docstring); checks that no required part is empty."""
    if protocol not in PROTOCOLS:
        raise ConfigError(f"eval.split: unknown protocol '{protocol}' (choose from {', '.join(PROTOCOLS)})")
    ratios = _check_ratios(ratios)
    if protocol == "auto":
        protocol = "fixed" if ds.split is not None else "random"
    rng = np.random.default_rng(seed)
    if protocol == "fixed":
        if ds.split is None:
            raise DataError(f"dataset '{ds.name}' carries no fixed split; choose eval.split=random|per_user|loo|temporal")
        labels = ds.split
    elif protocol == "random":
        labels = _cut(rng.permutation(ds.n_interactions), ratios)
    elif protocol == "per_user":
        labels = _per_user(ds.user, rng.random(ds.n_interactions), ratios, min_user_interactions)
    elif protocol == "loo":
        labels = _leave_one_out(ds, rng, loo_order, with_valid=ratios[1] > 0)
    else:
        if ds.timestamp is None:
            raise DataError(f"dataset '{ds.name}' has no timestamps: eval.split=temporal needs them")
        labels = _cut(np.argsort(ds.timestamp, kind="stable"), ratios)
    split = Split(*(np.flatnonzero(labels == i) for i in range(3)), protocol=protocol)
    if protocol == "loo":
        per_user = np.bincount(ds.user, minlength=ds.n_users)
        split.train_only_users = int((per_user < (3 if ratios[1] > 0 else 2)).sum())
    for i, name in enumerate(SPLIT_NAMES):
        needed = name != "valid" if protocol == "fixed" else (ratios[i] > 0 or name == "test")
        if needed and split.part(name).size == 0:
            raise DataError(f"dataset '{ds.name}': the {name} split is empty (eval.split={protocol})")
    return split


def _check_ratios(ratios) -> tuple[float, float, float]:
    ratios = tuple(float(r) for r in ratios)
    if len(ratios) == 2:
        ratios = (ratios[0], 0.0, ratios[1])
    if len(ratios) != 3 or min(ratios) < 0 or sum(ratios) <= 0:
        raise ConfigError(f"eval.ratios: expected [train, valid, test] non-negative shares, got {list(ratios)}")
    total = sum(ratios)
    return tuple(r / total for r in ratios)  # type: ignore[return-value]


def _cut(order: np.ndarray, ratios) -> np.ndarray:
    """Label positions of ``order`` 0/1/2 by cumulative ratios."""
    n = order.shape[0]
    n_train = int(round(ratios[0] * n))
    n_valid = int(round(ratios[1] * n))
    labels = np.empty(n, dtype=np.int8)
    labels[order[:n_train]] = 0
    labels[order[n_train:n_train + n_valid]] = 1
    labels[order[n_train + n_valid:]] = 2
    return labels


def _rank_within_user(user: np.ndarray, sort_key: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rank (0-based) of each interaction within its user by ``sort_key``, and each user's count."""
    order = np.lexsort((sort_key, user))
    counts = np.bincount(user)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    rank = np.empty(user.shape[0], dtype=np.int64)
    rank[order] = np.arange(user.shape[0]) - starts[user[order]]
    return rank, counts


def _per_user(user, noise, ratios, min_user_interactions) -> np.ndarray:
    rank, counts = _rank_within_user(user, noise)
    n = counts[user]
    n_valid = np.floor(ratios[1] * n).astype(np.int64)
    n_test = np.floor(ratios[2] * n).astype(np.int64)
    small = n < min_user_interactions
    n_valid[small] = 0
    n_test[small] = 0
    labels = np.zeros(user.shape[0], dtype=np.int8)
    labels[rank >= n - n_test - n_valid] = 1
    labels[rank >= n - n_test] = 2
    return labels


def _leave_one_out(ds: Dataset, rng, order: str, with_valid: bool) -> np.ndarray:
    if order == "latest":
        if ds.timestamp is None:
            raise DataError(f"dataset '{ds.name}' has no timestamps: eval.loo_order=latest needs them")
        key = ds.timestamp.astype(np.float64) + rng.random(ds.n_interactions) * 1e-3  # random among ties
    elif order == "random":
        key = rng.random(ds.n_interactions)
    else:
        raise ConfigError(f"eval.loo_order: expected 'random' or 'latest', got '{order}'")
    rank, counts = _rank_within_user(ds.user, key)
    n = counts[ds.user]
    labels = np.zeros(ds.n_interactions, dtype=np.int8)
    enough = n >= (3 if with_valid else 2)
    labels[enough & (rank == n - 1)] = 2
    if with_valid:
        labels[enough & (rank == n - 2)] = 1
    return labels
