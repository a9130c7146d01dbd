"""Impression logs for click-through tasks: KuaiRand's log layout and MicroVideo-1.7M's CSVs.

An impression is one (user, item, time, click) record, clicked or not, plus any further 0/1 label columns of the
source (``is_like``, ``long_view``, ...), kept under their own names in ``Dataset.impressions``. The clicked
impressions are also the dataset's interactions (with their times), so ranking models and the graph layer see
the same data as click-through models.

- ``kuairand``: a ``.csv`` / ``.tsv`` (plain or ``.gz``) log, or a folder holding exactly one, with the columns
  ``user_id, video_id, time_ms, is_click`` (KuaiRand's names; times in unix milliseconds). Every other column
  whose values are all 0 or 1 is kept as a label; others (``play_time_ms``, ``date``, ...) are dropped and named in
  ``source.dropped_columns``. Raw ids are mapped to 0..n-1 in ascending order (``raw.user_id``/``raw.item_id``).
- ``microvideo``: a folder with one ``*train*.csv`` and one ``*test*.csv`` (``user_id,item_id,cate_id,is_click,
  timestamp``), the fixed split kept as ``impressions['split']`` (0 train, 2 test); ``cate_id`` becomes the item
  category ``cate``. Ids are integer indices (item i is row i of a ``--feature`` matrix such as the 512-d cover
  image features).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from graphrec.data.dataset import Dataset
from graphrec.data.formats.legacy_io import modality_features, numeric_column, read_csv
from graphrec.errors import DataError

KUAIRAND_COLUMNS = ("user_id", "video_id", "time_ms", "is_click")
MICROVIDEO_COLUMNS = ("user_id", "item_id", "cate_id", "is_click", "timestamp")
LOG_SUFFIXES = (".csv", ".tsv", ".csv.gz", ".tsv.gz")


def _log_file(source: Path) -> Path:
    if source.is_file():
        return source
    found = sorted(p for p in source.iterdir() if p.name.endswith(LOG_SUFFIXES))
    if len(found) != 1:
        raise DataError(f"{source}: expected exactly one log file ({', '.join(LOG_SUFFIXES)}), found "
                        f"{[p.name for p in found] or 'none'}")
    return found[0]


def _columns(head: list[str], required: tuple[str, ...], path: Path) -> dict[str, int]:
    missing = [c for c in required if c not in head]
    if missing:
        raise DataError(f"{path}: missing column(s) {', '.join(missing)} (found {', '.join(head)})")
    return {c: head.index(c) for c in head}


def _clicks(rows: list[list[str]], col: int, path: Path) -> np.ndarray:
    click = numeric_column(rows, col, path, np.int64, 2)
    bad = (click != 0) & (click != 1)
    if bad.any():
        raise DataError(f"{path}: line {int(np.flatnonzero(bad)[0]) + 2}: is_click must be 0 or 1, "
                        f"got {int(click[bad][0])}")
    return click.astype(np.int8)


def _binary_labels(head: list[str], rows: list[list[str]], skip: set[str]) -> tuple[dict[str, np.ndarray], list[str]]:
    """Columns of 0/1 values only (labels), and the names of the other columns (dropped)."""
    labels, dropped = {}, []
    for c, name in enumerate(head):
        if name in skip:
            continue
        values = np.array([r[c].strip() for r in rows])
        if np.isin(values, ("0", "1")).all():
            labels[name] = (values == "1").astype(np.int8)
        else:
            dropped.append(name)
    return labels, dropped


def _with_interactions(name: str, n_users: int, n_items: int, impressions: dict[str, np.ndarray], **kw) -> Dataset:
    clicked = impressions["click"] == 1
    if not clicked.any():
        raise DataError(f"{kw['source']['path']}: no clicked impression (is_click is 0 everywhere)")
    return Dataset(name=name, n_users=n_users, n_items=n_items, user=impressions["user"][clicked],
                   item=impressions["item"][clicked], timestamp=impressions["timestamp"][clicked],
                   impressions=impressions, **kw)


def load_kuairand(source: Path, name: str, features: dict[str, str] | None = None) -> Dataset:
    path = _log_file(source)
    head, rows = read_csv(path)
    if not rows:
        raise DataError(f"{path}: no impressions")
    col = _columns(head, KUAIRAND_COLUMNS, path)
    raw_user = numeric_column(rows, col["user_id"], path, np.int64, 2)
    raw_item = numeric_column(rows, col["video_id"], path, np.int64, 2)
    user_ids, user = np.unique(raw_user, return_inverse=True)
    item_ids, item = np.unique(raw_item, return_inverse=True)
    labels, dropped = _binary_labels(head, rows, set(KUAIRAND_COLUMNS))
    impressions = {"user": user.astype(np.int64), "item": item.astype(np.int64),
                   "timestamp": numeric_column(rows, col["time_ms"], path, np.int64, 2),
                   "click": _clicks(rows, col["is_click"], path), **labels}
    feats = modality_features(path.parent, {}, features)
    return _with_interactions(name, int(user_ids.size), int(item_ids.size), impressions, features=feats,
                              raw={"user_id": user_ids.astype(str), "item_id": item_ids.astype(str)},
                              source={"format": "kuairand", "path": str(path), "labels": sorted(labels),
                                      "dropped_columns": dropped})


def _split_file(source: Path, part: str) -> Path:
    found = sorted(p for p in source.glob(f"*{part}*.csv"))
    if len(found) != 1:
        raise DataError(f"{source}: expected exactly one *{part}*.csv, found {[p.name for p in found] or 'none'}")
    return found[0]


def load_microvideo(source: Path, name: str, features: dict[str, str] | None = None) -> Dataset:
    if not source.is_dir():
        raise DataError(f"{source}: expected a folder with the train and test CSV files")
    parts = []
    for label, part in ((0, "train"), (2, "test")):
        path = _split_file(source, part)
        head, rows = read_csv(path, ",")
        if not rows:
            raise DataError(f"{path}: no impressions")
        col = _columns(head, MICROVIDEO_COLUMNS, path)
        values = {c: numeric_column(rows, col[c], path, np.int64, 2) for c in MICROVIDEO_COLUMNS if c != "is_click"}
        values["click"] = _clicks(rows, col["is_click"], path)
        values["split"] = np.full(len(rows), label, dtype=np.int8)
        values["path"] = np.full(len(rows), str(path))
        parts.append(values)
    cat = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    for key in ("user_id", "item_id"):
        if (cat[key] < 0).any():
            first = int(np.flatnonzero(cat[key] < 0)[0])
            raise DataError(f"{cat['path'][first]}: {key} {int(cat[key][first])} is negative (ids are indices 0..n-1)")
    feats = modality_features(source, {}, features)
    n_items = max([int(cat["item_id"].max()) + 1] + [f.shape[0] for f in feats.values() if f.ndim == 2])
    category = np.full(n_items, -1, dtype=np.int64)
    category[cat["item_id"]] = cat["cate_id"]
    clash = category[cat["item_id"]] != cat["cate_id"]
    if clash.any():
        first = int(np.flatnonzero(clash)[0])
        raise DataError(f"{cat['path'][first]}: item {int(cat['item_id'][first])} has two cate_id values "
                        f"({int(cat['cate_id'][first])} and {int(category[cat['item_id'][first]])})")
    impressions = {"user": cat["user_id"], "item": cat["item_id"], "timestamp": cat["timestamp"],
                   "click": cat["click"], "split": cat["split"]}
    return _with_interactions(name, int(cat["user_id"].max()) + 1, n_items, impressions, features=feats,
                              categories={"cate": category},
                              source={"format": "microvideo", "path": str(source)})
