"""MMRec layout: one ``*.inter`` TSV with header ``userID itemID [rating] [timestamp] x_label`` (0 train,
1 valid, 2 test; CRLF or LF) plus ``image_feat.npy``, ``text_feat.npy`` and optional ``audio_feat.npy``.
Ids are MMRec's already-contiguous integer ids; counts are read from the data (and feature rows)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from graphrec.data.dataset import Dataset
from graphrec.data.formats.legacy_io import modality_features, numeric_column, read_table
from graphrec.errors import DataError

FEATURE_FILES = {"visual": ("image_feat.npy",), "textual": ("text_feat.npy",), "acoustic": ("audio_feat.npy",)}
USER_COLS, ITEM_COLS = ("userID", "user_id", "user_id:token"), ("itemID", "item_id", "item_id:token")


def _column(head: list[str], names: tuple[str, ...], path: Path, required: bool = True) -> int | None:
    for i, h in enumerate(head):
        if h.strip() in names:
            return i
    if required:
        raise DataError(f"{path}: header has no '{names[0]}' column (found {head})")
    return None


def load(source: Path, name: str, features: dict[str, str] | None = None) -> Dataset:
    if source.is_file():
        inter, folder = source, source.parent
    else:
        found = sorted(source.glob("*.inter"))
        if len(found) != 1:
            raise DataError(f"{source}: expected exactly one *.inter file, found {len(found)}")
        inter, folder = found[0], source
    head, rows = read_table(inter, "\t", header=True)
    if not rows:
        raise DataError(f"{inter}: no interactions")
    cols = {key: _column(head, names, inter, req) for key, names, req in (
        ("user", USER_COLS, True), ("item", ITEM_COLS, True), ("split", ("x_label",), True),
        ("rating", ("rating",), False), ("timestamp", ("timestamp",), False))}
    values = {key: numeric_column(rows, c, inter, np.float64 if key in ("rating", "timestamp") else np.int64, 2)
              for key, c in cols.items() if c is not None}
    feats = modality_features(folder, FEATURE_FILES, features)
    n_items = int(values["item"].max()) + 1
    for modality, feat in feats.items():
        n_items = max(n_items, feat.shape[0]) if feat.ndim == 2 else n_items
    return Dataset(name=name, n_users=int(values["user"].max()) + 1, n_items=n_items, user=values["user"],
                   item=values["item"], split=values["split"].astype(np.int8), rating=values.get("rating"),
                   timestamp=values.get("timestamp"), features=feats,
                   source={"format": "mmrec", "path": str(inter)})
