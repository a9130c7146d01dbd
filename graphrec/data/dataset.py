"""The canonical dataset: integer ids, interactions, optional timestamps, features, impressions and side info.

On disk (``graphrec.data.storage``) a prepared dataset is one folder holding ``meta.json`` plus one ``.npy`` per
array (loaded with ``allow_pickle=False``). Array names are flat keys: ``user``, ``item``, ``timestamp``, ``rating``, ``split``,
``feat.<modality>``, ``impression.<user|item|timestamp|click>``, ``tag.<item|tag>`` (optionally
``tag.<user|timestamp>``: who attached the tag and when), ``category.<name>``, ``itemset.<name>.<item|value>``
(a multi-valued categorical item field, e.g. MTL's topic ids), ``raw.<user_id|item_id>`` and ``extra.<name>``.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from graphrec.errors import DataError

SCHEMA_VERSION = 1
SPLIT_NAMES = ("train", "valid", "test")


@dataclass
class Dataset:
    """A recommendation dataset in canonical form (ids are ``0..n-1``)."""

    name: str
    n_users: int
    n_items: int
    user: np.ndarray
    item: np.ndarray
    timestamp: np.ndarray | None = None
    rating: np.ndarray | None = None
    split: np.ndarray | None = None  # int8 per interaction: 0 train, 1 valid, 2 test (fixed protocol)
    features: dict[str, np.ndarray] = field(default_factory=dict)
    impressions: dict[str, np.ndarray] = field(default_factory=dict)  # user, item, timestamp, click
    tags: dict[str, np.ndarray] = field(default_factory=dict)  # (item, tag) pairs
    categories: dict[str, np.ndarray] = field(default_factory=dict)  # name -> int64 [n_items], -1 unknown
    item_sets: dict[str, np.ndarray] = field(default_factory=dict)  # "<name>.item" / "<name>.value" pairs
    raw: dict[str, np.ndarray] = field(default_factory=dict)  # user_id / item_id -> raw id strings
    extras: dict[str, np.ndarray] = field(default_factory=dict)
    source: dict = field(default_factory=dict)
    # modalities whose rows are class probabilities or memberships (MovieLens genres), as the importer declares
    # them: kept whole as FM features by IRIS (its eq. 5–10); never inferred from the values
    probability_modalities: list[str] = field(default_factory=list)

    @property
    def n_interactions(self) -> int:
        return int(self.user.shape[0])

    def arrays(self) -> dict[str, np.ndarray]:
        """All arrays under their flat on-disk keys."""
        out: dict[str, np.ndarray] = {"user": self.user, "item": self.item}
        for key in ("timestamp", "rating", "split"):
            value = getattr(self, key)
            if value is not None:
                out[key] = value
        for group, mapping in (("feat", self.features), ("impression", self.impressions), ("tag", self.tags),
                               ("category", self.categories), ("itemset", self.item_sets), ("raw", self.raw),
                               ("extra", self.extras)):
            for key, value in mapping.items():
                out[f"{group}.{key}"] = value
        return out

    def item_field(self, name: str) -> tuple[np.ndarray, np.ndarray, int]:
        """A categorical item field as ``(item, value, n_values)`` pairs: the item set ``name``, the tags
        (``tag``) or the single-valued category ``name`` (unknown values, −1, left out)."""
        if f"{name}.item" in self.item_sets:
            item, value = self.item_sets[f"{name}.item"], self.item_sets[f"{name}.value"]
        elif name == "tag" and self.tags:
            item, value = self.tags["item"], self.tags["tag"]
        elif name in self.categories:
            value = self.categories[name]
            item = np.flatnonzero(value >= 0)
            value = value[item]
        else:
            have = sorted({k.rsplit(".", 1)[0] for k in self.item_sets} | set(self.categories)
                          | ({"tag"} if self.tags else set()))
            raise DataError(f"dataset '{self.name}' has no item field '{name}' (it has {have or 'none'})")
        n_values = int(value.max()) + 1 if value.size else 0
        return item.astype(np.int64), value.astype(np.int64), n_values

    def split_counts(self) -> dict[str, int] | None:
        if self.split is None:
            return None
        counts = np.bincount(self.split.astype(np.int64), minlength=3)
        return {name: int(counts[i]) for i, name in enumerate(SPLIT_NAMES)}

    def meta(self) -> dict:
        """The ``meta.json`` content (without checksums)."""
        return {
            "schema_version": SCHEMA_VERSION,
            "name": self.name,
            "n_users": int(self.n_users),
            "n_items": int(self.n_items),
            "n_interactions": self.n_interactions,
            "modalities": {k: int(v.shape[1]) for k, v in self.features.items()},
            "split_protocol": "fixed" if self.split is not None else None,
            "split_counts": self.split_counts(),
            "has_timestamps": self.timestamp is not None,
            "n_impressions": int(self.impressions["user"].shape[0]) if self.impressions else 0,
            "probability_modalities": list(self.probability_modalities),
            "source": self.source,
        }


# ---------------------------------------------------------------------------------------------------------
# validation


def validate(ds: Dataset, where: str) -> Dataset:
    """Check ids, shapes and values; cast to canonical dtypes; deduplicate interactions with a warning.

    ``where`` names the file or source in error messages. Returns the (possibly deduplicated) dataset.
    """
    user = _as_ids(ds.user, ds.n_users, f"{where}: user ids")
    item = _as_ids(ds.item, ds.n_items, f"{where}: item ids")
    if user.shape != item.shape:
        raise DataError(f"{where}: user and item columns differ in length ({user.shape[0]} vs {item.shape[0]})")
    if user.shape[0] == 0 and not ds.source.get("content_only"):  # content-only: items and side info
        raise DataError(f"{where}: no interactions")
    ds.user, ds.item = user, item
    n = user.shape[0]
    for key in ("timestamp", "rating", "split"):
        value = getattr(ds, key)
        if value is not None and value.shape != (n,):
            raise DataError(f"{where}: '{key}' has {value.shape[0]} rows, expected {n} (one per interaction)")
    if ds.n_users * ds.n_items >= 2 ** 62:
        raise DataError(f"{where}: {ds.n_users} users × {ds.n_items} items overflow the (user, item) keys; "
                        f"ids must be 0..n-1 without large gaps")
    if ds.split is not None:
        ds.split = _as_split_labels(ds.split, where)
    if ds.rating is not None:
        ds.rating = ds.rating.astype(np.float32)
    for name, feat in list(ds.features.items()):
        ds.features[name] = check_features(feat, ds.n_items, f"{where}: feature '{name}'")
    for name in ds.probability_modalities:
        if name not in ds.features:
            raise DataError(f"{where}: probability modality '{name}' is not among the features {sorted(ds.features)}")
        if ds.features[name].size and ds.features[name].min() < 0:
            raise DataError(f"{where}: probability modality '{name}' has negative values")
    if ds.impressions:
        ds.impressions = _checked_impressions(ds.impressions, ds.n_users, ds.n_items, where)
    for name, cat in ds.categories.items():
        if cat.shape != (ds.n_items,):
            raise DataError(f"{where}: category '{name}' has {cat.shape[0]} rows, expected {ds.n_items} items")
    if ds.tags:
        ds.tags["item"] = _as_ids(ds.tags["item"], ds.n_items, f"{where}: tag item ids")
        for key, value in ds.tags.items():
            if value.shape != ds.tags["item"].shape:
                raise DataError(f"{where}: tag column '{key}' has {value.shape[0]} rows, expected "
                                f"{ds.tags['item'].shape[0]}")
    for key in [k for k in ds.item_sets if k.endswith(".item")]:
        field_name = key[:-5]
        if f"{field_name}.value" not in ds.item_sets:
            raise DataError(f"{where}: item field '{field_name}' has items but no values")
        ds.item_sets[key] = _as_ids(ds.item_sets[key], ds.n_items, f"{where}: item field '{field_name}' items")
        if ds.item_sets[f"{field_name}.value"].shape != ds.item_sets[key].shape:
            raise DataError(f"{where}: item field '{field_name}': items and values differ in length")
    return _canonical_order(_deduplicate(ds, where))


def check_counts(ds: Dataset, where: str) -> None:
    """``n_users`` / ``n_items`` (as ``meta.json`` states them) against the arrays: equal to the rows of every
    per-user or per-item array (raw id maps, features, categories), else to the largest id + 1; every id below
    its count. A count edited by hand would otherwise train on items that do not exist, or crash mid-run."""
    for key in ("n_users", "n_items"):
        value = getattr(ds, key)
        if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 0:
            raise DataError(f"{where}: '{key}' must be a non-negative integer, got {value!r}")
    per_user = {"raw.user_id": ds.raw.get("user_id")}
    per_item = {"raw.item_id": ds.raw.get("item_id"), **{f"feat.{k}": v for k, v in ds.features.items()},
                **{f"category.{k}": v for k, v in ds.categories.items()}}
    ids_of = {"n_users": {"user": ds.user, "impression.user": ds.impressions.get("user"),
                          "tag.user": ds.tags.get("user")},
              "n_items": {"item": ds.item, "impression.item": ds.impressions.get("item"), "tag.item": ds.tags.get("item"),
                          **{f"itemset.{k}": v for k, v in ds.item_sets.items() if k.endswith(".item")}}}
    for key, rows in (("n_users", per_user), ("n_items", per_item)):
        count = int(getattr(ds, key))
        for name, array in rows.items():
            if array is not None and array.shape[0] != count:
                raise DataError(f"{where}: {key} is {count} but '{name}' has {array.shape[0]} rows "
                                f"(prepare the dataset again)")
        largest = max((int(a.max()) for a in ids_of[key].values() if a is not None and a.size), default=-1)
        if largest >= count:
            raise DataError(f"{where}: {key} is {count} but an id {largest} is stored (prepare the dataset again)")
        if all(a is None for a in rows.values()) and largest + 1 != count and largest >= 0:
            raise DataError(f"{where}: {key} is {count} but the largest id is {largest} and no array has one row "
                            f"per {key[2:-1]} (prepare the dataset again)")


IMPRESSION_COLUMNS = ("user", "item", "timestamp", "click")


def _checked_impressions(imp: dict[str, np.ndarray], n_users: int, n_items: int, where: str) -> dict[str, np.ndarray]:
    """``user``, ``item``, ``timestamp``, ``click`` (0/1) and optional 0/1 labels or ``split``, one row each."""
    missing = [c for c in IMPRESSION_COLUMNS if c not in imp]
    if missing:
        raise DataError(f"{where}: impressions lack {', '.join(missing)}")
    n = imp["user"].shape[0]
    for key, value in imp.items():
        if value.shape != (n,):
            raise DataError(f"{where}: impression column '{key}' has shape {value.shape}, expected ({n},)")
    out = dict(imp)
    out["user"] = _as_ids(imp["user"], n_users, f"{where}: impression user ids")
    out["item"] = _as_ids(imp["item"], n_items, f"{where}: impression item ids")
    timestamp = np.asarray(imp["timestamp"])
    if not np.issubdtype(timestamp.dtype, np.number) or not np.isfinite(timestamp).all():
        raise DataError(f"{where}: impression timestamps must be finite numbers")
    out["timestamp"] = timestamp.astype(np.int64) if np.issubdtype(timestamp.dtype, np.integer) else timestamp
    for key in imp:
        if key in ("user", "item", "timestamp"):
            continue
        if key == "split":
            out[key] = _as_split_labels(imp[key], f"{where}: impressions")
            continue
        bad = ~np.isin(imp[key], (0, 1))
        if bad.any():
            first = int(np.flatnonzero(bad)[0])
            raise DataError(f"{where}: impression label '{key}' is {imp[key][first]!r} at row {first}, "
                            f"expected 0 or 1")
        out[key] = imp[key].astype(np.int8)
    return out


def _as_split_labels(labels: np.ndarray, where: str) -> np.ndarray:
    labels = np.asarray(labels)
    if not (np.issubdtype(labels.dtype, np.integer) or np.issubdtype(labels.dtype, np.floating)):
        raise DataError(f"{where}: split labels must be integers, got dtype {labels.dtype}")
    bad = ~np.isin(labels, (0, 1, 2))
    if bad.any():
        first = int(np.flatnonzero(bad)[0])
        raise DataError(f"{where}: split label {labels[first].item()!r} at interaction {first} is not 0 (train), "
                        f"1 (valid) or 2 (test)")
    return labels.astype(np.int8)


def check_features(feat: np.ndarray, n_items: int, what: str) -> np.ndarray:
    """A float32 ``[n_items, d]`` matrix with finite values, or a DataError naming ``what``."""
    feat = np.asarray(feat)
    if feat.ndim != 2:
        raise DataError(f"{what}: expected a 2-D matrix [items, dim], got shape {feat.shape}")
    if feat.shape[0] != n_items:
        raise DataError(f"{what}: {feat.shape[0]} rows but the dataset has {n_items} items")
    if not (np.issubdtype(feat.dtype, np.integer) or np.issubdtype(feat.dtype, np.floating)
            or feat.dtype == np.bool_):
        kind = "complex values are not accepted" if np.iscomplexobj(feat) else "not real-valued numbers"
        raise DataError(f"{what}: dtype {feat.dtype}: {kind}")
    if feat.shape[1] == 0:
        raise DataError(f"{what}: has no columns (shape {feat.shape})")
    feat = feat.astype(np.float32)
    bad = ~np.isfinite(feat).all(axis=1)
    if bad.any():
        rows = np.flatnonzero(bad)
        raise DataError(f"{what}: {rows.size} rows contain NaN or inf (first: row {rows[0]})")
    return feat


def _as_ids(values: np.ndarray, n: int, what: str) -> np.ndarray:
    values = np.asarray(values)
    if values.size and not np.issubdtype(values.dtype, np.integer):
        if not np.issubdtype(values.dtype, np.floating):
            raise DataError(f"{what}: ids must be integers, got dtype {values.dtype}")
        bad = ~(np.isfinite(values) & (np.mod(values, 1) == 0) & (np.abs(values) < 2 ** 53))
        if bad.any():
            first = int(np.flatnonzero(bad)[0])
            raise DataError(f"{what}: id {values[first].item()!r} at row {first} is not an integer")
    values = values.astype(np.int64)
    if values.size:
        if values.min() < 0:
            raise DataError(f"{what}: negative id {values.min()}")
        if values.max() >= n:
            raise DataError(f"{what}: id {values.max()} out of range (count is {n})")
    return values


def _deduplicate(ds: Dataset, where: str) -> Dataset:
    """Drop repeated (user, item) pairs, keeping the earliest split (train first), then the earliest time."""
    key = ds.user * ds.n_items + ds.item
    secondary = [v for v in (ds.timestamp, ds.split) if v is not None]
    order = np.lexsort((*secondary, key))  # by key, then split, then timestamp
    _, first = np.unique(key[order], return_index=True)
    keep = np.sort(order[first])
    if keep.size < key.size:
        warnings.warn(f"{where}: dropped {key.size - keep.size} duplicate (user, item) interactions", stacklevel=2)
        _take_interactions(ds, keep)
    return ds


def _canonical_order(ds: Dataset) -> Dataset:
    """Sort interactions by user, then timestamp (when present), then item: one order per content."""
    keys = (ds.item,) + ((ds.timestamp,) if ds.timestamp is not None else ()) + (ds.user,)
    order = np.lexsort(keys)
    if not np.array_equal(order, np.arange(order.size)):
        _take_interactions(ds, order)
    return ds


def _take_interactions(ds: Dataset, index: np.ndarray) -> None:
    """Keep/reorder every per-interaction column by ``index``, in place."""
    ds.user, ds.item = ds.user[index], ds.item[index]
    for attr in ("timestamp", "rating", "split"):
        value = getattr(ds, attr)
        if value is not None:
            setattr(ds, attr, value[index])
