"""DiffMM / MMSSL layout: ``trnMat.pkl``, ``valMat.pkl``, ``tstMat.pkl`` (pickled SciPy sparse matrices of
shape users × items) plus optional ``image_feat.npy``, ``audio_feat.npy``, ``text_feat.npy``."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from graphrec.data.dataset import Dataset
from graphrec.data.formats.legacy_io import load_pickle, modality_features
from graphrec.errors import DataError

FEATURE_FILES = {"visual": ("image_feat.npy",), "acoustic": ("audio_feat.npy",), "textual": ("text_feat.npy",)}


def load(source: Path, name: str, features: dict[str, str] | None = None) -> Dataset:
    users, items, labels, shape = [], [], [], None
    for label, fname in enumerate(("trnMat.pkl", "valMat.pkl", "tstMat.pkl")):
        path = source / fname
        mat = load_pickle(path)
        if not hasattr(mat, "tocoo"):
            raise DataError(f"{path}: expected a SciPy sparse matrix, found {type(mat).__name__}")
        coo = mat.tocoo()
        if shape is not None and coo.shape != shape:
            raise DataError(f"{path}: shape {coo.shape} differs from trnMat.pkl's {shape}")
        shape = coo.shape
        nz = coo.data != 0
        users.append(coo.row[nz].astype(np.int64))
        items.append(coo.col[nz].astype(np.int64))
        labels.append(np.full(int(nz.sum()), label, dtype=np.int8))
    return Dataset(name=name, n_users=int(shape[0]), n_items=int(shape[1]), user=np.concatenate(users),
                   item=np.concatenate(items), split=np.concatenate(labels),
                   features=modality_features(source, FEATURE_FILES, features),
                   source={"format": "diffmm", "path": str(source)})
