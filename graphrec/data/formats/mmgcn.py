"""MMGCN / GRCN / HUIGN layout.

- ``train.npy``: int pairs ``[user, item + n_users]`` (items offset by the user count);
- ``val_full.npy`` / ``test_full.npy``: rows ``[user, item + n_users, ...]`` (ragged, saved as object arrays);
- ``user_item_dict.npy``: optional pickled dict user → items (only used to count users);
- ``feat_v``, ``feat_a``, ``feat_t`` as ``.npy`` or ``.pt``: visual, acoustic, textual features.
Counts come from the data: users = max user id + 1 (or the dict's size, if larger); the offset is the user
count, checked against the smallest item column value; items = max(item − offset) + 1, or the feature rows.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from graphrec.data.dataset import Dataset
from graphrec.data.formats.legacy_io import load_npy, modality_features
from graphrec.errors import DataError

FEATURE_FILES = {m: (f"feat_{s}.npy", f"feat_{s}.pt") for m, s in (("visual", "v"), ("acoustic", "a"), ("textual", "t"))}


def _rows(path: Path) -> list[np.ndarray]:
    arr = load_npy(path, legacy_objects=True)
    rows = list(arr) if arr.dtype == object else [r for r in np.atleast_2d(arr)]
    out = []
    for i, row in enumerate(rows):
        row = np.asarray(row)
        if row.ndim != 1 or row.size < 1 or not np.issubdtype(row.dtype, np.number):
            raise DataError(f"{path}: row {i} is not a list of integer ids")
        out.append(row.astype(np.int64))
    return out


def load(source: Path, name: str, features: dict[str, str] | None = None) -> Dataset:
    train_path = source / "train.npy"
    train = load_npy(train_path)
    if train.ndim != 2 or train.shape[1] != 2 or not np.issubdtype(train.dtype, np.integer):
        raise DataError(f"{train_path}: expected integer pairs [n, 2], got {train.dtype} {train.shape}")
    parts = {"valid": _rows(source / "val_full.npy"), "test": _rows(source / "test_full.npy")}
    users = [train[:, 0]] + [np.array([r[0] for r in rows], dtype=np.int64) for rows in parts.values()]
    n_users = int(max(u.max() for u in users if u.size)) + 1
    dict_path = source / "user_item_dict.npy"
    if dict_path.is_file():
        user_items = load_npy(dict_path, legacy_objects=True)
        user_items = user_items.item() if user_items.dtype == object and user_items.shape == () else user_items
        if isinstance(user_items, dict):
            n_users = max(n_users, len(user_items))
    all_items = [train[:, 1]] + [np.concatenate([r[1:] for r in rows]) if rows else np.zeros(0, np.int64)
                                 for rows in parts.values()]
    smallest = min(int(i.min()) for i in all_items if i.size)
    if smallest < n_users:
        raise DataError(f"{source}: item column value {smallest} is below the user count {n_users}: items must be "
                        f"offset by the number of users in this layout")
    u_list, i_list, s_list = [train[:, 0]], [train[:, 1] - n_users], [np.zeros(train.shape[0], np.int8)]
    for label, rows in ((1, parts["valid"]), (2, parts["test"])):
        for row in rows:
            u_list.append(np.full(row.size - 1, row[0]))
            i_list.append(row[1:] - n_users)
            s_list.append(np.full(row.size - 1, label, dtype=np.int8))
    item = np.concatenate(i_list)
    feats = modality_features(source, FEATURE_FILES, features)
    n_items = max([int(item.max()) + 1] + [f.shape[0] for f in feats.values() if f.ndim == 2])
    return Dataset(name=name, n_users=n_users, n_items=n_items, user=np.concatenate(u_list), item=item,
                   split=np.concatenate(s_list), features=feats, source={"format": "mmgcn", "path": str(source)})
