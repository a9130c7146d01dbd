"""A verified export (``graphrec.serving.export``) in memory: every file's SHA-256 is checked against the
manifest before anything is used; a missing, extra-checked or changed file is a DataError naming it."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from graphrec.data.storage import file_sha256
from graphrec.errors import DataError
from graphrec.serving.export import FORMAT, SPLITS, VERSION

# the items a list leaves out: the same choices as `graphrec recommend exclude=`
EXCLUDE = {"none": (), "train": ("train",), "train+valid": ("train", "valid"), "all": ("train", "valid", "test")}


def check_contents(path: Path, manifest: dict, arrays: dict[str, np.ndarray]) -> None:
    """The manifest's entries and counts against the arrays (an edited manifest would serve ids that do not
    exist, or fail mid-request); one DataError naming the entry."""
    where = f"{path}/manifest.json"
    for key in ("kind", "model", "dataset", "n_users", "n_items", "files"):
        if key not in manifest:
            raise DataError(f"{where}: the entry '{key}' is missing; export the run again")
    kinds = {"embeddings": ("user_emb", "item_emb"), "ranked": ("ranked_indptr", "ranked_items", "ranked_scores")}
    if manifest["kind"] not in kinds:
        raise DataError(f"{where}: kind '{manifest['kind']}' is not one of {', '.join(kinds)}")
    needed = ("raw_user_id", "raw_item_id", "popularity", *kinds[manifest["kind"]],
              *(f"seen_{s}_{part}" for s in SPLITS for part in ("indptr", "indices")))
    missing = [n for n in needed if n not in arrays]
    if missing:
        raise DataError(f"{where}: '{missing[0]}.npy' is not among its files; export the run again")
    rows = {"n_users": ("raw_user_id", "seen_train_indptr", "user_emb", "ranked_indptr"),
            "n_items": ("raw_item_id", "popularity", "item_emb")}
    for key, names in rows.items():
        n = manifest[key]
        if not isinstance(n, int) or isinstance(n, bool) or n < 1:
            raise DataError(f"{where}: '{key}' is not a positive integer ({n!r})")
        for name in names:
            expected = n + 1 if name.endswith("indptr") else n
            if name in arrays and arrays[name].shape[0] != expected:
                raise DataError(f"{where}: '{key}' is {n} but {name}.npy has {arrays[name].shape[0]} rows; export "
                                f"the run again")
    if manifest["kind"] == "ranked":
        max_k = manifest.get("max_k")
        if not isinstance(max_k, int) or isinstance(max_k, bool) or not 1 <= max_k <= manifest["n_items"]:
            raise DataError(f"{where}: 'max_k' must be an integer between 1 and n_items, got {max_k!r}")


@dataclass
class Artefact:
    path: Path
    manifest: dict
    arrays: dict[str, np.ndarray]
    user_index: dict[str, int] = field(default_factory=dict)
    item_index: dict[str, int] = field(default_factory=dict)

    @classmethod
    def load(cls, path: str | Path) -> Artefact:
        path = Path(path)
        try:
            manifest = json.loads((path / "manifest.json").read_text())
        except (OSError, ValueError):
            raise DataError(f"{path}: no readable manifest.json (not a graphrec export)") from None
        if manifest.get("format") != FORMAT or manifest.get("version") != VERSION:
            raise DataError(f"{path}/manifest.json: format {manifest.get('format')} v{manifest.get('version')} "
                            f"is not {FORMAT} v{VERSION}")
        arrays = {}
        for name, checksum in (manifest.get("files") or {}).items():
            file = path / name
            if not file.is_file():
                raise DataError(f"{file}: missing from the export")
            if file_sha256(file) != checksum:
                raise DataError(f"{file}: checksum differs from manifest.json (the export was changed); "
                                f"export the run again")
            try:
                arrays[name[:-4]] = np.load(file, allow_pickle=False)
            except ValueError as exc:
                raise DataError(f"{file}: unreadable array ({exc})") from None
        check_contents(path, manifest, arrays)
        art = cls(path, manifest, arrays)
        art.user_index = {str(r): i for i, r in enumerate(arrays["raw_user_id"])}
        art.item_index = {str(r): i for i, r in enumerate(arrays["raw_item_id"])}
        return art

    @property
    def kind(self) -> str:
        return self.manifest["kind"]

    @property
    def n_items(self) -> int:
        return int(self.manifest["n_items"])

    def seen(self, user: int, exclude: str) -> np.ndarray:
        """The items of ``user`` in the splits ``exclude`` names."""
        parts = [self.arrays[f"seen_{s}_indices"][self.arrays[f"seen_{s}_indptr"][user]:
                                                  self.arrays[f"seen_{s}_indptr"][user + 1]] for s in EXCLUDE[exclude]]
        return np.concatenate(parts) if parts else np.zeros(0, np.int64)

    def item_metadata(self, item: int) -> dict:
        out: dict = {"raw_id": str(self.arrays["raw_item_id"][item])}
        if "item_title" in self.arrays:
            out["title"] = str(self.arrays["item_title"][item])
        for key, values in self.arrays.items():
            if key.startswith("category_") and not key.endswith("_names"):
                name, value = key[len("category_"):], int(values[item])
                names = self.arrays.get(f"{key}_names")
                out[name] = (str(names[value]) if names is not None and 0 <= value < len(names) else value) \
                    if value >= 0 else None
        return out


