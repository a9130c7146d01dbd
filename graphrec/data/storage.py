"""Prepared datasets on disk: ``<root>/<name>/`` with ``meta.json`` and one ``.npy`` per array.

- Writes are atomic (``graphrec.atomic.atomic_directory``) and hold a per-name lock (``<root>/.locks/<name>.lock``,
  ``flock``), so two concurrent prepares of one name cannot both succeed; temporary folders left by a killed
  prepare (``.tmp-<name>-*``, ``.trash-<name>-*``) are removed by the next prepare or ``data list`` once no
  process holds that name's lock.
- ``meta.json`` records each array's SHA-256; loading verifies it. To keep loads cheap, ``.verified.json``
  beside the arrays remembers (size, mtime) of every file whose checksum matched, and only a file whose size or
  mtime changed is hashed again. A mismatch is a DataError naming the file.
- ``n_users`` / ``n_items`` in ``meta.json`` are checked against the arrays on load (``check_counts``: the rows of
  every per-user / per-item array, else the largest id + 1), so the counts are a function of the checksummed
  arrays and the fingerprint below pins them too (hashing them again would only orphan existing checkpoints).
- ``fingerprint(ds)`` identifies the content a run was trained on (results.json, checkpoints), so ``evaluate``
  and ``recommend`` can refuse a dataset that was replaced under the same name.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from graphrec.atomic import atomic_directory, temporary_owner, write_text
from graphrec.data.dataset import SCHEMA_VERSION, Dataset, check_counts
from graphrec.errors import DataError, GraphrecError

log = logging.getLogger("graphrec")

VERIFIED_FILE = ".verified.json"
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
MAX_NAME = 200  # ".trash-<name>-<8 hex>" must stay within a file name's 255 bytes


def data_root(root: str | Path | None = None) -> Path:
    """The data root: ``root``, else ``$GRAPHREC_DATA``, else ``~/.cache/graphrec``."""
    if root is None:
        root = os.environ.get("GRAPHREC_DATA") or Path.home() / ".cache" / "graphrec"
    return Path(root).expanduser()


def check_name(name: str, field: str = "dataset.name") -> str:
    """A dataset name is one folder name: letters, digits, '.', '_', '-', not starting with '.' (no paths)."""
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise DataError(f"{field}: '{name}' is not a dataset name (letters, digits, '.', '_' and '-', "
                        f"starting with a letter or digit; no '/' or '..')")
    if len(name) > MAX_NAME:
        raise DataError(f"{field}: a dataset name has at most {MAX_NAME} characters (got {len(name)}): it names a "
                        f"folder, and its temporary folders add to it within the file system's 255")
    return name


def dataset_dir(name: str, root: str | Path | None = None, field: str = "dataset.name") -> Path:
    return data_root(root) / check_name(name, field)


@contextlib.contextmanager
def dataset_lock(name: str, root: str | Path | None = None) -> Iterator[None]:
    """Hold ``name``'s lock; a DataError at once when another process holds it."""
    folder = data_root(root) / ".locks"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd = os.open(folder / f"{name}.lock", os.O_RDWR | os.O_CREAT, 0o666)
    except OSError as exc:
        raise DataError(f"{data_root(root)}: cannot write to the data root ({exc.strerror})") from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise DataError(f"dataset '{name}': another process is preparing it (lock {folder / name}.lock); "
                            f"wait for it to finish") from None
        yield
    finally:
        os.close(fd)


def remove_stale_temporaries(root: str | Path | None = None) -> list[str]:
    """Remove temporary folders of prepares that are no longer running; returns their names."""
    root = data_root(root)
    removed = []
    if not root.is_dir():
        return removed
    for entry in sorted(root.iterdir()):
        owner = temporary_owner(entry.name)
        if owner is None or not entry.is_dir():
            continue
        try:
            with dataset_lock(owner, root):
                shutil.rmtree(entry)
        except (GraphrecError, OSError):
            continue  # its prepare is still running, or the root is read-only
        log.warning(f"removed {entry}, left by an interrupted prepare of '{owner}'")
        removed.append(entry.name)
    return removed


def save_dataset(ds: Dataset, root: str | Path | None = None, overwrite: bool = False,
                 overwrite_flag: str = "--overwrite") -> Path:
    """Write ``ds`` atomically to ``<root>/<name>/`` under its lock. Returns the folder. ``overwrite_flag``: how
    the calling command spells its overwrite switch, for the "already exists" message."""
    with dataset_lock(check_name(ds.name, "--name"), root):
        return write_dataset_locked(ds, root, overwrite, overwrite_flag)


def write_dataset_locked(ds: Dataset, root: str | Path | None = None, overwrite: bool = False,
                         overwrite_flag: str = "--overwrite") -> Path:
    """``save_dataset`` for a caller that already holds ``dataset_lock(ds.name)``."""
    target = dataset_dir(ds.name, root, "--name")
    if target.exists() and not overwrite:
        raise DataError(f"dataset '{ds.name}' already exists in {target.parent} (pass {overwrite_flag} to replace it)")
    arrays = ds.arrays()
    with atomic_directory(target, overwrite=overwrite, size_hint=sum(v.nbytes for v in arrays.values())) as tmp:
        checksums, verified = {}, {}
        for key, value in arrays.items():
            path = tmp / f"{key}.npy"
            np.save(path, np.ascontiguousarray(value), allow_pickle=False)
            checksums[key] = file_sha256(path)
            verified[key] = _verification(path, checksums[key])
        meta = ds.meta()
        meta["arrays"] = {k: {"shape": list(v.shape), "dtype": str(v.dtype)} for k, v in arrays.items()}
        meta["checksums"] = checksums
        (tmp / "meta.json").write_text(json.dumps(meta, indent=2))
        (tmp / VERIFIED_FILE).write_text(json.dumps(verified))
    return target


def read_meta(name: str, root: str | Path | None = None) -> dict:
    folder = dataset_dir(name, root)
    meta_path = folder / "meta.json"
    if not meta_path.is_file():
        raise DataError(
            f"dataset '{name}' not found in {data_root(root)} (prepare it with `graphrec data prepare`, "
            f"see `graphrec data list`)")
    try:
        meta = json.loads(meta_path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DataError(f"{meta_path}: malformed JSON ({exc})") from None
    if not isinstance(meta, dict) or meta.get("schema_version") != SCHEMA_VERSION:
        version = meta.get("schema_version") if isinstance(meta, dict) else None
        raise DataError(f"{meta_path}: schema version {version} is not {SCHEMA_VERSION}; prepare the dataset again")
    return meta


def _verification(path: Path, checksum: str) -> dict:
    st = path.stat()
    return {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "sha256": checksum}


def verify_files(name: str, folder: Path, meta: dict) -> None:
    """Check every array file against ``meta.json``'s checksum (hashing only files changed since last time)."""
    checksums = meta.get("checksums") or {}
    try:
        verified = json.loads((folder / VERIFIED_FILE).read_text())
    except (OSError, ValueError):
        verified = {}
    changed = False
    for key in meta["arrays"]:
        path = folder / f"{key}.npy"
        expected = checksums.get(key)
        if expected is None:
            raise DataError(f"{folder / 'meta.json'}: no checksum for array '{key}'; prepare the dataset again")
        if not path.is_file():
            raise DataError(f"{path}: missing (dataset '{name}' is incomplete; prepare it again)")
        record = verified.get(key)
        st = path.stat()
        if record == {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "sha256": expected}:
            continue
        if file_sha256(path) != expected:
            raise DataError(f"{path}: checksum differs from meta.json (the file changed after it was prepared); "
                            f"prepare dataset '{name}' again")
        verified[key] = _verification(path, expected)
        changed = True
    if changed:
        with contextlib.suppress(GraphrecError, OSError):  # a read-only root: verified again next time
            write_text(folder / VERIFIED_FILE, json.dumps(verified))


def load_dataset(name: str, root: str | Path | None = None) -> Dataset:
    """Load and verify a prepared dataset by name from the data root."""
    meta = read_meta(name, root)
    folder = dataset_dir(name, root)
    verify_files(name, folder, meta)
    arrays = {}
    for key, spec in meta["arrays"].items():
        path = folder / f"{key}.npy"
        try:
            arr = np.load(path, allow_pickle=False)
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
              "itemset": ds.item_sets, "raw": ds.raw, "extra": ds.extras}
    for key, value in arrays.items():
        group, _, sub = key.partition(".")
        groups[group][sub] = value
    ds.source = dict(meta.get("source", {}), checksums=meta.get("checksums", {}))
    declared = meta.get("probability_modalities")
    if declared is None and ds.source.get("format") == "movielens":
        declared = ["genre"]  # prepared before the key existed: what the MovieLens importer has always declared
    ds.probability_modalities = [str(m) for m in declared or [] if m in ds.features]
    check_counts(ds, str(folder / "meta.json"))
    return ds


def list_datasets(root: str | Path | None = None) -> list[dict]:
    root = data_root(root)
    if not root.is_dir():
        return []
    remove_stale_temporaries(root)
    out = []
    for folder in sorted(root.iterdir()):
        if folder.is_dir() and not folder.name.startswith(".") and (folder / "meta.json").is_file():
            try:
                out.append(read_meta(folder.name, root))
            except DataError:
                continue
    return out


def fingerprint(ds: Dataset) -> str:
    """What a run was trained on: the hash of a prepared dataset's verified file checksums, or (a dataset
    made in memory, such as the synthetic world) of its interaction and feature arrays."""
    h = hashlib.sha256()
    checksums = ds.source.get("checksums")
    if checksums:
        h.update(json.dumps(checksums, sort_keys=True).encode())
        return h.hexdigest()[:16]
    for key, arr in sorted(ds.arrays().items()):
        if key.startswith(("raw.", "extra.")):
            continue
        arr = np.ascontiguousarray(arr)
        h.update(f"{key}|{arr.dtype}|{arr.shape}|".encode())
        h.update(arr.tobytes())
    return h.hexdigest()[:16]


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
