"""RecBole atomic files: ``<name>.inter`` (or the benchmark files ``<name>.train.inter``, ``<name>.valid.inter``,
``<name>.test.inter`` of a fixed split), optional ``<name>.item`` and ``<name>.user``.

Each file is tab-separated with a ``field:type`` header; types are ``token`` (one categorical value),
``token_seq`` (space-separated values), ``float`` and ``float_seq``. Ids are RecBole's defaults ``user_id`` and
``item_id`` (tokens, remapped to ``0..n-1`` in sorted raw-id order; the raw ids are kept). Taken into the
canonical dataset:

- ``.inter``: ``rating:float`` and ``timestamp:float`` when present; every row is an interaction (RecBole's
  ``threshold`` filtering is a config choice there; filter the file first to reproduce one). Other fields are
  left out. Benchmark files give the fixed split (0 train / 1 valid / 2 test).
- ``.item``: ``float_seq`` fields are feature modalities (``[n_items, d]``, zero rows for items without a line);
  ``token`` fields are categories (``category.<field>``, −1 unknown); ``token_seq`` fields are item sets
  (``itemset.<field>``: e.g. ``class`` for genres, ``movie_title`` for title words). Scalar ``float`` fields are
  left out (a year or a price is not a modality).
- ``.user``: ``token`` fields as integer codes (``extra.user.<field>``, −1 unknown).

Users and items listed only in ``.user`` / ``.item`` are kept (they exist, without interactions), as RecBole does.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from graphrec.data.dataset import Dataset
from graphrec.data.formats.legacy_io import modality_features, numeric_column, read_table
from graphrec.errors import DataError

TYPES = ("token", "token_seq", "float", "float_seq")
USER, ITEM = "user_id", "item_id"
BENCHMARK = ("train", "valid", "test")


def _header(path: Path, head: list[str]) -> list[tuple[str, str]]:
    fields = []
    for column in head:
        name, sep, kind = column.strip().rpartition(":")
        if not sep or not name or kind not in TYPES:
            raise DataError(f"{path}: header field '{column.strip()}' is not 'name:type' with a type of "
                            f"{', '.join(TYPES)}")
        fields.append((name, kind))
    return fields


def _read(path: Path, required: tuple[str, ...]) -> tuple[dict[str, str], dict[str, list[str]]]:
    """``({field: type}, {field: raw column})``; ``required`` fields must be tokens."""
    head, rows = read_table(path, "\t", header=True)
    if head is None:
        raise DataError(f"{path}: empty file (expected a 'field:type' header)")
    fields = _header(path, head)
    types = dict(fields)
    for name in required:
        if types.get(name) != "token":
            raise DataError(f"{path}: header has no '{name}:token' field (found {', '.join(c.strip() for c in head)})")
    columns = {name: [r[i].strip() for r in rows] for i, (name, _) in enumerate(fields)}
    for name in required:
        empty = [i for i, v in enumerate(columns[name]) if not v]
        if empty:
            raise DataError(f"{path}: line {empty[0] + 2}: empty '{name}'")
    return types, columns


def _find(source: Path) -> tuple[str, Path, list[Path]]:
    """The dataset's stem, folder and its interaction file(s): one ``.inter`` or the three benchmark files."""
    if source.is_file():
        if source.suffix != ".inter":
            raise DataError(f"{source}: expected a RecBole '.inter' file or a folder of atomic files")
        stem = source.name[:-len(".inter")]
        for part in BENCHMARK:
            if stem.endswith(f".{part}"):
                return _find(source.parent / f"{stem[:-len(part) - 1]}")
        return stem, source.parent, [source]
    folder = source if source.is_dir() else source.parent
    stem = None if source.is_dir() else source.name
    if not folder.is_dir():
        raise DataError(f"{source}: not found")
    inters = sorted(folder.glob(f"{stem or '*'}.inter"))
    bench = sorted(folder.glob(f"{stem or '*'}.train.inter"))
    if bench:
        stem = bench[0].name[:-len(".train.inter")]
        parts = [folder / f"{stem}.{part}.inter" for part in BENCHMARK]
        missing = [p.name for p in parts if not p.is_file()]
        if missing:
            raise DataError(f"{folder}: benchmark file(s) {', '.join(missing)} missing beside {bench[0].name}")
        return stem, folder, parts
    plain = [p for p in inters if not any(p.name.endswith(f".{part}.inter") for part in BENCHMARK)]
    if len(plain) != 1:
        raise DataError(f"{folder}: expected one RecBole '<name>.inter' (or '<name>.train/valid/test.inter'), "
                        f"found {len(plain)}")
    return plain[0].name[:-len(".inter")], folder, plain


def _codes(values: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Integer codes of tokens (sorted vocabulary; empty = −1) and the vocabulary."""
    vocab = np.array(sorted({v for v in values if v}), dtype=str)
    index = {v: i for i, v in enumerate(vocab.tolist())}
    return np.array([index.get(v, -1) for v in values], dtype=np.int64), vocab


def load(source: Path, name: str, features: dict[str, str] | None = None) -> Dataset:
    stem, folder, inter_files = _find(source)
    parts = []
    for path in inter_files:
        types, columns = _read(path, (USER, ITEM))
        if not columns[USER]:
            raise DataError(f"{path}: no interactions")
        parts.append((path, types, columns))
    item_file, user_file = folder / f"{stem}.item", folder / f"{stem}.user"
    item_types, item_cols = _read(item_file, (ITEM,)) if item_file.is_file() else ({}, {})
    user_types, user_cols = _read(user_file, (USER,)) if user_file.is_file() else ({}, {})

    raw_users = np.array(sorted({u for _, _, c in parts for u in c[USER]} | set(user_cols.get(USER, []))), dtype=str)
    raw_items = np.array(sorted({i for _, _, c in parts for i in c[ITEM]} | set(item_cols.get(ITEM, []))), dtype=str)
    user_index = {u: k for k, u in enumerate(raw_users.tolist())}
    item_index = {i: k for k, i in enumerate(raw_items.tolist())}

    user = np.concatenate([np.array([user_index[u] for u in c[USER]], dtype=np.int64) for _, _, c in parts])
    item = np.concatenate([np.array([item_index[i] for i in c[ITEM]], dtype=np.int64) for _, _, c in parts])
    split = (np.concatenate([np.full(len(c[USER]), k, dtype=np.int8) for k, (_, _, c) in enumerate(parts)])
             if len(parts) == 3 else None)
    optional = {}
    for key in ("rating", "timestamp"):
        present = [key in t for _, t, _ in parts]
        if any(present) and not all(present):
            raise DataError(f"{folder}: '{key}' is in some benchmark files only")
        if all(present):
            for path, types, _ in parts:
                if types[key] != "float":
                    raise DataError(f"{path}: field '{key}' has type {types[key]}, expected float")
            optional[key] = np.concatenate([numeric_column([[v] for v in c[key]], 0, path, np.float64, 2)
                                            for path, _, c in parts])

    n_items, n_users = len(raw_items), len(raw_users)
    feats = modality_features(folder, {}, features)  # --feature MODALITY=PATH, rows in sorted raw-id order
    categories, item_sets, extras = {}, {}, {}
    rows = np.array([item_index[i] for i in item_cols.get(ITEM, [])], dtype=np.int64)
    for field, kind in item_types.items():
        if field == ITEM:
            continue
        values = item_cols[field]
        if kind == "float_seq":
            feats[field] = _float_rows(values, rows, n_items, item_file, field)
        elif kind == "token":
            codes, vocab = _codes(values)
            categories[field] = np.full(n_items, -1, dtype=np.int64)
            categories[field][rows] = codes
            extras[f"vocab.{field}"] = vocab
        elif kind == "token_seq":
            seqs = [v.split() for v in values]
            codes, vocab = _codes([t for s in seqs for t in s])
            item_sets[f"{field}.item"] = np.repeat(rows, [len(s) for s in seqs])
            item_sets[f"{field}.value"] = codes
            extras[f"vocab.{field}"] = vocab
    urows = np.array([user_index[u] for u in user_cols.get(USER, [])], dtype=np.int64)
    for field, kind in user_types.items():
        if field != USER and kind == "token":
            codes, vocab = _codes(user_cols[field])
            extras[f"user.{field}"] = np.full(n_users, -1, dtype=np.int64)
            extras[f"user.{field}"][urows] = codes
            extras[f"vocab.user.{field}"] = vocab
    return Dataset(name=name, n_users=n_users, n_items=n_items, user=user, item=item, split=split,
                   rating=optional.get("rating"), timestamp=optional.get("timestamp"), features=feats,
                   categories=categories, item_sets=item_sets, extras=extras,
                   raw={"user_id": raw_users, "item_id": raw_items},
                   source={"format": "recbole", "path": str(folder), "files": [p.name for p in inter_files]})


def _float_rows(values: list[str], rows: np.ndarray, n_items: int, path: Path, field: str) -> np.ndarray:
    """A ``float_seq`` item field as ``[n_items, d]`` float32 (items without a line: zeros)."""
    vectors = [v.split() for v in values]
    if not vectors:
        raise DataError(f"{path}: no item lines, so '{field}' has no dimension")
    width = {len(v) for v in vectors}
    if len(width) != 1 or 0 in width:
        lengths = [len(v) for v in vectors]
        bad = next(i for i, n in enumerate(lengths) if n != lengths[0] or n == 0)
        raise DataError(f"{path}: line {bad + 2}: '{field}' has {lengths[bad]} values, line 2 has {lengths[0]}")
    out = np.zeros((n_items, width.pop()), dtype=np.float32)
    for line, (row, vector) in enumerate(zip(rows, vectors), start=2):
        try:
            out[row] = np.array(vector, dtype=np.float64)
        except ValueError:
            raise DataError(f"{path}: line {line}: '{field}' holds a value that is not a number") from None
    if not np.isfinite(out).all():
        raise DataError(f"{path}: '{field}' holds a non-finite value")
    return out
