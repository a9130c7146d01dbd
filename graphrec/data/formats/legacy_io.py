"""Reading source files safely: text tables, ``.npy`` arrays, and the legacy pickles some formats need.

Pickles (DiffMM's ``*.pkl``, MMGCN's object ``.npy`` files) are read with a restricted unpickler that only
builds NumPy arrays, SciPy sparse matrices and builtin containers, never arbitrary objects.
"""

from __future__ import annotations

import csv
import gzip
import io
import pickle
from pathlib import Path

import numpy as np

from graphrec.errors import DataError

_ALLOWED_MODULES = ("numpy", "scipy.sparse", "collections", "builtins", "copyreg", "_codecs")
_ALLOWED_BUILTINS = {"dict", "list", "tuple", "set", "frozenset", "int", "float", "str", "bytes", "bool",
                     "complex", "slice", "range", "object", "bytearray"}


class _RestrictedUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str):
        if module == "builtins" and name not in _ALLOWED_BUILTINS:
            raise pickle.UnpicklingError(f"refusing to load builtins.{name}")
        if not module.startswith(_ALLOWED_MODULES):
            raise pickle.UnpicklingError(f"refusing to load {module}.{name}")
        if module.startswith("scipy.sparse"):  # old pickles name private submodules (scipy.sparse.coo)
            import scipy.sparse

            if hasattr(scipy.sparse, name):
                return getattr(scipy.sparse, name)
        return super().find_class(module, name)


def load_pickle(path: Path):
    """Unpickle ``path`` allowing only arrays, sparse matrices and plain containers."""
    try:
        with open(path, "rb") as f:
            return _RestrictedUnpickler(f, encoding="latin1").load()
    except FileNotFoundError:
        raise DataError(f"{path}: file not found") from None
    except Exception as exc:
        raise DataError(f"{path}: unreadable pickle ({type(exc).__name__}: {exc})") from None


def load_npy(path: Path, legacy_objects: bool = False) -> np.ndarray:
    """Load a ``.npy`` with ``allow_pickle=False``; object arrays (legacy formats only) via the restricted
    unpickler when ``legacy_objects``."""
    try:
        with open(path, "rb") as f:
            version = np.lib.format.read_magic(f)
            read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else \
                np.lib.format.read_array_header_2_0
            _, _, dtype = read_header(f)
            if dtype.hasobject:
                if not legacy_objects:
                    raise DataError(f"{path}: holds Python objects (pickled), which this field does not accept")
                arr = _RestrictedUnpickler(io.BytesIO(f.read()), encoding="latin1").load()
                return np.asarray(arr) if not isinstance(arr, np.ndarray) else arr
        return np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise DataError(f"{path}: file not found") from None
    except DataError:
        raise
    except Exception as exc:
        raise DataError(f"{path}: unreadable array ({type(exc).__name__}: {exc})") from None


def load_feature_file(path: Path) -> np.ndarray:
    """A feature matrix from ``.npy`` or ``.pt`` (a plain tensor, loaded with ``weights_only=True``)."""
    if path.suffix == ".pt":
        import torch

        try:
            tensor = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:
            raise DataError(f"{path}: unreadable tensor file ({type(exc).__name__})") from None
        if not isinstance(tensor, torch.Tensor):
            raise DataError(f"{path}: expected a tensor, found {type(tensor).__name__}")
        return tensor.float().numpy()
    return load_npy(path)


def read_table(path: Path, sep: str, n_cols: int | None = None, encoding: str = "utf-8",
               header: bool = False) -> tuple[list[str] | None, list[list[str]]]:
    """Rows of a delimited text file (CRLF or LF), checking every row has the same number of fields."""
    try:
        text = path.read_bytes().decode(encoding)
    except FileNotFoundError:
        raise DataError(f"{path}: file not found") from None
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not {encoding} text ({exc.reason} at byte {exc.start})") from None
    lines = [line for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n")]
    while lines and not lines[-1].strip():
        lines.pop()
    head = lines.pop(0).split(sep) if header and lines else None
    width = n_cols or (len(head) if head else None)
    rows = []
    for lineno, line in enumerate(lines, start=2 if header else 1):
        fields = line.split(sep)
        if width is None:
            width = len(fields)
        if len(fields) != width:
            raise DataError(f"{path}: line {lineno} has {len(fields)} fields, expected {width} (truncated or malformed?)")
        rows.append(fields)
    return head, rows


def numeric_column(rows: list[list[str]], col: int, path: Path, dtype=np.int64, first_line: int = 1) -> np.ndarray:
    """Column ``col`` as finite numbers; integer dtypes take integers only (``3`` or ``3.0``, never ``12.7``).

    Any other field is a DataError naming the file, the line and the value."""
    values = [r[col].strip() for r in rows]

    def fail(mask: np.ndarray, what: str) -> None:
        i = int(np.flatnonzero(mask)[0])
        raise DataError(f"{path}: line {i + first_line}: '{values[i]}' is not {what}")

    floats = np.empty(len(values), dtype=np.float64)
    parsed = np.ones(len(values), dtype=bool)
    try:
        floats[:] = np.array(values, dtype=np.float64)
    except (ValueError, OverflowError):
        for i, v in enumerate(values):
            try:
                floats[i] = float(v)
            except (ValueError, OverflowError):
                parsed[i] = False
        fail(~parsed, "a number")
    if not np.isfinite(floats).all():
        fail(~np.isfinite(floats), "a finite number")
    if not np.issubdtype(dtype, np.integer):
        return floats.astype(dtype)
    try:
        return np.array(values, dtype=np.int64).astype(dtype)
    except (ValueError, OverflowError):  # '3.0', '1e3' or a fraction
        if (floats != np.round(floats)).any():
            fail(floats != np.round(floats), "an integer")
        if (np.abs(floats) >= 2 ** 53).any():
            fail(np.abs(floats) >= 2 ** 53, "an integer below 2^53")
        return floats.astype(dtype)


def modality_features(source: Path, names: dict[str, tuple[str, ...]], extra: dict[str, str] | None) -> dict[str, np.ndarray]:
    """Feature matrices found in ``source`` under known file names, plus ``extra`` {modality: path}."""
    feats = {}
    for modality, candidates in names.items():
        for fname in candidates:
            if (source / fname).is_file():
                feats[modality] = load_feature_file(source / fname)
                break
    for modality, path in (extra or {}).items():
        feats[modality] = load_feature_file(Path(path))
    return feats


def read_csv(path: Path, delimiter: str | None = None, check_fields: bool = True
             ) -> tuple[list[str], list[list[str]]]:
    """Header and rows of a UTF-8 CSV or TSV (quoted fields may span lines), plain or gzipped (``.gz``).

    ``delimiter`` None: a tab when the header line has one, else a comma. Every row must have the header's
    number of fields (unless ``check_fields`` is false: the caller repairs ragged rows); anything else is a
    DataError naming the file and the line."""
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rt", newline="", encoding="utf-8") as f:
            first = f.readline()
            sep = delimiter or ("\t" if "\t" in first else ",")
            f.seek(0)
            rows = list(csv.reader(f, delimiter=sep))
    except FileNotFoundError:
        raise DataError(f"{path}: file not found") from None
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not utf-8 text ({exc.reason} at byte {exc.start})") from None
    except (csv.Error, OSError, EOFError) as exc:  # OSError / EOFError: a corrupt or truncated gzip stream
        raise DataError(f"{path}: malformed {'gzip' if opener is gzip.open else 'CSV'} ({exc})") from None
    while rows and not rows[-1]:
        rows.pop()
    if not rows:
        raise DataError(f"{path}: empty file")
    head, body = [h.strip() for h in rows[0]], rows[1:]
    for i, row in enumerate(body if check_fields else [], start=2):
        if len(row) != len(head):
            raise DataError(f"{path}: line {i} has {len(row)} fields, expected {len(head)} (truncated or malformed?)")
    return head, body
