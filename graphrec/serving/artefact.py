"""A verified export (``graphrec.serving.export``) in memory: every file's SHA-256 is checked against the
manifest before anything is used; a missing, extra-checked or changed file is a DataError naming it."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from graphrec.data.storage import file_sha256
from graphrec.errors import DataError
from graphrec.serving.export import FORMAT, VERSION

EXCLUDE = {"none": (), "train": ("train",), "train+valid": ("train", "valid")}


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


