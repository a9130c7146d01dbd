"""KuaiRec 2.0 video content (``kuairec_caption_category.csv``): a content-only dataset for topic learning.

One item per ``video_id`` (ids mapped to 0..n-1 in ascending order). Kept: the caption and the manual cover
text as ``extra.caption`` / ``extra.cover_text`` ("" where missing), the hashtags of ``topic_tag`` (a
Python-style list of strings, unquoted in the file: ``[a,b]``) as ``tag.item`` / ``tag.tag`` with
``extra.tag_names``, and the three-level category tree as ``category.primary`` / ``secondary`` / ``tertiary``
(first / second / third level, ids mapped to 0..n-1 per level, −1 where the file says −124 / UNKNOWN) with
their names in ``extra.<level>_names``. No interactions or impressions (``source.content_only``).

The published file has four captions with an unquoted line break, each splitting its row in two (3 + 8
fields); such a pair is joined back (the break kept in the caption). Any other ragged row is a DataError.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from graphrec.data.dataset import Dataset
from graphrec.data.formats.legacy_io import read_csv
from graphrec.errors import DataError

FILE = "kuairec_caption_category.csv"
LEVELS = (("primary", "first_level_category"), ("secondary", "second_level_category"),
          ("tertiary", "third_level_category"))
MISSING = {"", "-124", "UNKNOWN"}


def _tag_list(text: str, path: Path, line: int) -> list[str]:
    """``[a,b]`` (the file's unquoted form) or ``['a', 'b']`` → the tag strings."""
    text = text.strip()
    if not (text.startswith("[") and text.endswith("]")):
        raise DataError(f"{path}: line {line}: topic_tag {text[:40]!r} is not a bracketed list")
    return [t.strip().strip("'\"").strip() for t in text[1:-1].split(",") if t.strip().strip("'\"").strip()]


def _joined(rows: list[list[str]], width: int, path: Path) -> list[list[str]]:
    """Rows split by an unquoted line break joined back (module doc)."""
    out, i = [], 0
    while i < len(rows):
        row = rows[i]
        if len(row) < width and i + 1 < len(rows) and len(row) + len(rows[i + 1]) - 1 == width:
            row = row[:-1] + [row[-1] + "\n" + rows[i + 1][0]] + rows[i + 1][1:]
            i += 1
        if len(row) != width:
            raise DataError(f"{path}: line {i + 2} has {len(row)} fields, expected {width} (truncated or malformed?)")
        out.append(row)
        i += 1
    return out


def load(source: Path, name: str, features: dict[str, str] | None = None) -> Dataset:
    path = source / FILE if source.is_dir() else source
    head, rows = read_csv(path, ",", check_fields=False)
    rows = _joined(rows, len(head), path)
    need = ["video_id", "manual_cover_text", "caption", "topic_tag"] + [f"{c}_id" for _, c in LEVELS]
    missing = [c for c in need if c not in head]
    if missing:
        raise DataError(f"{path}: missing columns {missing} (found {head})")
    col = {c: head.index(c) for c in head}
    try:
        raw_ids = np.array([int(r[col["video_id"]]) for r in rows], dtype=np.int64)
    except ValueError:
        bad = next(i for i, r in enumerate(rows) if not r[col["video_id"]].strip().lstrip("-").isdigit())
        raise DataError(f"{path}: line {bad + 2}: video_id {rows[bad][col['video_id']]!r} is not an integer") from None
    item_ids, item = np.unique(raw_ids, return_inverse=True)
    if item_ids.size != raw_ids.size:
        raise DataError(f"{path}: {raw_ids.size - item_ids.size} repeated video_id rows")
    order = np.argsort(item)
    rows = [rows[i] for i in order]
    text = {key: np.array(["" if r[col[key]].strip() in MISSING else r[col[key]].strip() for r in rows])
            for key in ("caption", "manual_cover_text")}
    tag_lists = [_tag_list(r[col["topic_tag"]], path, int(order[i]) + 2) for i, r in enumerate(rows)]
    tag_names, tag_ids = np.unique(np.array([t for tl in tag_lists for t in tl] or [""]), return_inverse=True)
    tag_item = np.repeat(np.arange(len(rows)), [len(tl) for tl in tag_lists])
    tag_ids = tag_ids[: tag_item.size]
    categories, extras = {}, {"caption": text["caption"], "cover_text": text["manual_cover_text"],
                              "tag_names": tag_names if tag_item.size else np.array([], dtype=str)}
    for level, column in LEVELS:
        values = np.array([r[col[f"{column}_id"]].strip() for r in rows])
        known = ~np.isin(values, list(MISSING))
        names, ids = np.unique(values[known], return_inverse=True)
        cat = np.full(len(rows), -1, dtype=np.int64)
        cat[known] = ids
        categories[level] = cat
        name_col = f"{column}_name"
        label = {} if name_col not in col else {v: r[col[name_col]] for v, r in zip(values, rows)}
        extras[f"{level}_names"] = np.array([f"{v}:{label.get(v, '')}" for v in names])
    empty = np.zeros(0, dtype=np.int64)
    return Dataset(name=name, n_users=0, n_items=int(item_ids.size), user=empty, item=empty.copy(),
                   tags={"item": tag_item.astype(np.int64), "tag": tag_ids.astype(np.int64)},
                   categories=categories, extras=extras, raw={"item_id": item_ids.astype(str)},
                   source={"format": "kuairec-captions", "path": str(path), "content_only": True})
