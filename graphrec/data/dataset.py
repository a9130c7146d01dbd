"""The canonical dataset: integer ids, interactions, optional timestamps, features, impressions and side info.

On disk a prepared dataset is one folder holding ``meta.json`` plus one ``.npy`` per array (loaded with
``allow_pickle=False``). Array names are flat keys: ``user``, ``item``, ``timestamp``, ``rating``, ``split``,
``feat.<modality>``, ``impression.<user|item|timestamp|click>``, ``tag.<item|tag>``, ``category.<name>``,
``raw.<user_id|item_id>`` and ``extra.<name>``.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import uuid
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
    raw: dict[str, np.ndarray] = field(default_factory=dict)  # user_id / item_id -> raw id strings
    extras: dict[str, np.ndarray] = field(default_factory=dict)
    source: dict = field(default_factory=dict)

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
                               ("category", self.categories), ("raw", self.raw), ("extra", self.extras)):
            for key, value in mapping.items():
                out[f"{group}.{key}"] = value
        return out

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
    if user.shape[0] == 0:
        raise DataError(f"{where}: no interactions")
    ds.user, ds.item = user, item
    n = user.shape[0]
    for key in ("timestamp", "rating", "split"):
        value = getattr(ds, key)
        if value is not None and value.shape != (n,):
            raise DataError(f"{where}: '{key}' has {value.shape[0]} rows, expected {n} (one per interaction)")
    if ds.split is not None:
        ds.split = ds.split.astype(np.int8)
        if ds.split.min() < 0 or ds.split.max() > 2:
            raise DataError(f"{where}: split labels must be 0 (train), 1 (valid) or 2 (test)")
    if ds.rating is not None:
        ds.rating = ds.rating.astype(np.float32)
    for name, feat in list(ds.features.items()):
        ds.features[name] = check_features(feat, ds.n_items, f"{where}: feature '{name}'")
    if ds.impressions:
        imp_user = _as_ids(ds.impressions["user"], ds.n_users, f"{where}: impression user ids")
        ds.impressions["user"] = imp_user
        ds.impressions["item"] = _as_ids(ds.impressions["item"], ds.n_items, f"{where}: impression item ids")
        ds.impressions["click"] = ds.impressions["click"].astype(np.int8)
    for name, cat in ds.categories.items():
        if cat.shape != (ds.n_items,):
            raise DataError(f"{where}: category '{name}' has {cat.shape[0]} rows, expected {ds.n_items} items")
    if ds.tags:
        ds.tags["item"] = _as_ids(ds.tags["item"], ds.n_items, f"{where}: tag item ids")
    return _canonical_order(_deduplicate(ds, where))


def check_features(feat: np.ndarray, n_items: int, what: str) -> np.ndarray:
    """A float32 ``[n_items, d]`` matrix with finite values, or a DataError naming ``what``."""
    feat = np.asarray(feat)
    if feat.ndim != 2:
        raise DataError(f"{what}: expected a 2-D matrix [items, dim], got shape {feat.shape}")
    if feat.shape[0] != n_items:
        raise DataError(f"{what}: {feat.shape[0]} rows but the dataset has {n_items} items")
    if not np.issubdtype(feat.dtype, np.number):
        raise DataError(f"{what}: dtype {feat.dtype} is not numeric")
    feat = feat.astype(np.float32)
    bad = ~np.isfinite(feat).all(axis=1)
    if bad.any():
        rows = np.flatnonzero(bad)
        raise DataError(f"{what}: {rows.size} rows contain NaN or inf (first: row {rows[0]})")
    return feat


def _as_ids(values: np.ndarray, n: int, what: str) -> np.ndarray:
    values = np.asarray(values)
    if values.size and not np.issubdtype(values.dtype, np.integer):
        if np.issubdtype(values.dtype, np.floating) and np.all(np.mod(values, 1) == 0):
            values = values.astype(np.int64)
        else:
            raise DataError(f"{what}: ids must be integers, got dtype {values.dtype}")
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


# ---------------------------------------------------------------------------------------------------------
# storage


def data_root(root: str | Path | None = None) -> Path:
    """The data root: ``root``, else ``$GRAPHREC_DATA``, else ``~/.cache/graphrec``."""
    import os

    if root is None:
        root = os.environ.get("GRAPHREC_DATA") or Path.home() / ".cache" / "graphrec"
    return Path(root).expanduser()


def save_dataset(ds: Dataset, root: str | Path | None = None, overwrite: bool = False) -> Path:
    """Write ``ds`` atomically to ``<root>/<name>/`` (temp folder + rename). Returns the folder."""
    root = data_root(root)
    root.mkdir(parents=True, exist_ok=True)
    target = root / ds.name
    if target.exists() and not overwrite:
        raise DataError(f"dataset '{ds.name}' already exists in {root} (pass --overwrite to replace it)")
    tmp = root / f".tmp-{ds.name}-{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    try:
        checksums = {}
        for key, value in ds.arrays().items():
            path = tmp / f"{key}.npy"
            np.save(path, np.ascontiguousarray(value), allow_pickle=False)
            checksums[key] = _sha256(path)
        meta = ds.meta()
        meta["arrays"] = {k: {"shape": list(v.shape), "dtype": str(v.dtype)} for k, v in ds.arrays().items()}
        meta["checksums"] = checksums
        (tmp / "meta.json").write_text(json.dumps(meta, indent=2))
        if target.exists():
            trash = root / f".trash-{ds.name}-{uuid.uuid4().hex[:8]}"
            target.rename(trash)
            tmp.rename(target)
            shutil.rmtree(trash, ignore_errors=True)
        else:
            tmp.rename(target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target


def read_meta(name: str, root: str | Path | None = None) -> dict:
    folder = data_root(root) / name
    meta_path = folder / "meta.json"
    if not meta_path.is_file():
        raise DataError(
            f"dataset '{name}' not found in {data_root(root)} (prepare it with `graphrec data prepare`, "
            f"see `graphrec data list`)")
    try:
        meta = json.loads(meta_path.read_text())
    except json.JSONDecodeError as exc:
        raise DataError(f"{meta_path}: malformed JSON ({exc.msg})") from None
    if meta.get("schema_version") != SCHEMA_VERSION:
        raise DataError(f"{meta_path}: schema version {meta.get('schema_version')} is not {SCHEMA_VERSION}; "
                        f"prepare the dataset again")
    return meta


def load_dataset(name: str, root: str | Path | None = None) -> Dataset:
    """Load a prepared dataset by name from the data root."""
    meta = read_meta(name, root)
    folder = data_root(root) / name
    arrays = {}
    for key, spec in meta["arrays"].items():
        path = folder / f"{key}.npy"
        try:
            arr = np.load(path, allow_pickle=False)
        except FileNotFoundError:
            raise DataError(f"{path}: missing (dataset '{name}' is incomplete; prepare it again)") from None
        except ValueError as exc:
            raise DataError(f"{path}: unreadable array ({exc})") from None
        if list(arr.shape) != spec["shape"]:
            raise DataError(f"{path}: shape {list(arr.shape)} differs from meta.json {spec['shape']}")
        arrays[key] = arr
    ds = Dataset(name=meta["name"], n_users=meta["n_users"], n_items=meta["n_items"],
                 user=arrays.pop("user"), item=arrays.pop("item"), source=meta.get("source", {}))
    for key in ("timestamp", "rating", "split"):
        setattr(ds, key, arrays.pop(key, None))
    groups = {"feat": ds.features, "impression": ds.impressions, "tag": ds.tags, "category": ds.categories,
              "raw": ds.raw, "extra": ds.extras}
    for key, value in arrays.items():
        group, _, sub = key.partition(".")
        groups[group][sub] = value
    ds.source = dict(meta.get("source", {}), checksums=meta.get("checksums", {}))
    return ds


def list_datasets(root: str | Path | None = None) -> list[dict]:
    root = data_root(root)
    if not root.is_dir():
        return []
    out = []
    for folder in sorted(root.iterdir()):
        if folder.is_dir() and not folder.name.startswith(".") and (folder / "meta.json").is_file():
            try:
                out.append(read_meta(folder.name, root))
            except DataError:
                continue
    return out


def fingerprint(ds: Dataset) -> str:
    """A hash of the interaction and feature arrays (for cache keys)."""
    h = hashlib.sha256()
    for key in sorted(ds.arrays()):
        if key.startswith(("raw.", "extra.")):
            continue
        arr = np.ascontiguousarray(ds.arrays()[key])
        h.update(key.encode())
        h.update(str(arr.dtype).encode())
        h.update(str(arr.shape).encode())
        h.update(arr.tobytes())
    return h.hexdigest()[:16]


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
