"""``graphrec export``: a trained run as a folder that answers top-K queries without the dataset or the model code.

Contents (``.npy`` arrays, loadable with ``allow_pickle=False``, and ``manifest.json``):
- ``kind = "embeddings"`` (models with ``embeddings()``: score = ⟨user, item⟩): ``user_emb``, ``item_emb``;
- ``kind = "ranked"`` (every other model): each user's ``max_k`` best items *after* excluding train, valid and
  test items, and, to serve the lighter exclusions, the user's own seen items ranked among them: per user the
  top ``max_k + |seen_u|`` items of the model's full score row, as CSR ``ranked_indptr`` / ``ranked_items`` /
  ``ranked_scores``. k is then limited to ``max_k``;
- ``raw_user_id``, ``raw_item_id`` (the dataset's raw ids; indices as strings where it has none);
- ``seen_<train|valid|test>_indptr`` / ``_indices``: each user's items per split (CSR), for exclusion;
- ``popularity``: items by training interactions, most first (the unknown-user fallback);
- item metadata where the dataset has it: ``item_title``, and per category ``category_<name>`` (value per item,
  −1 unknown) with ``category_<name>_names`` when the dataset names them;
- ``manifest.json``: format and version, model, dataset, kind, counts, each file's SHA-256, provenance.
Written atomically (temporary folder + rename): an interrupted export leaves nothing.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import torch
from omegaconf import OmegaConf

from graphrec.atomic import atomic_directory
from graphrec.data.storage import file_sha256
from graphrec.errors import ConfigError
from graphrec.inference import load_run, require_ranking
from graphrec.provenance import provenance

FORMAT, VERSION = "graphrec-export", 1
SPLITS = ("train", "valid", "test")


def _ranked_lists(exp, max_k: int, block: int = 256) -> dict[str, np.ndarray]:
    """Per user the top max_k + |seen| items of the full score row (module doc), in user blocks."""
    n_users, n_items = exp.dataset.n_users, exp.dataset.n_items
    seen = sum(exp.task.csr[s].degree for s in SPLITS)
    width = (seen + max_k).clamp_max(n_items)
    items, scores = [], []
    with torch.no_grad():
        for start in range(0, n_users, block):
            users = torch.arange(start, min(start + block, n_users))
            row_scores = exp.model.score(users.to(exp.device)).float().cpu()
            top = row_scores.topk(int(width[users].max()), dim=1)
            for r, u in enumerate(users.tolist()):
                items.append(top.indices[r, : int(width[u])].numpy())
                scores.append(top.values[r, : int(width[u])].numpy())
    indptr = np.concatenate([[0], np.cumsum(width.numpy())]).astype(np.int64)
    return {"ranked_indptr": indptr, "ranked_items": np.concatenate(items).astype(np.int64),
            "ranked_scores": np.concatenate(scores).astype(np.float32)}


def export_run(checkpoint: str | Path, out: str | Path, max_k: int = 100, device: str | None = None,
               overwrite: bool = False) -> Path:
    """Write the export of ``checkpoint`` to ``out`` (module doc). Returns the folder."""
    exp = load_run(checkpoint, device)
    require_ranking(exp, "export")
    ds = exp.dataset
    if not 1 <= max_k <= ds.n_items:
        raise ConfigError(f"max_k: between 1 and the number of items ({ds.n_items}), got {max_k}")
    arrays: dict[str, np.ndarray] = {}
    with torch.no_grad():
        emb = exp.model.embeddings()
    if emb is not None:
        kind = "embeddings"
        arrays["user_emb"] = emb[0].detach().float().cpu().numpy()
        arrays["item_emb"] = emb[1].detach().float().cpu().numpy()
    else:
        kind = "ranked"
        arrays.update(_ranked_lists(exp, max_k))
    for side, n in (("user", ds.n_users), ("item", ds.n_items)):
        raw = ds.raw.get(f"{side}_id")
        arrays[f"raw_{side}_id"] = np.asarray(raw).astype(str) if raw is not None else np.arange(n).astype(str)
    for split in SPLITS:
        arrays[f"seen_{split}_indptr"] = exp.task.csr[split].indptr.numpy().astype(np.int64)
        arrays[f"seen_{split}_indices"] = exp.task.csr[split].indices.numpy().astype(np.int64)
    counts = torch.bincount(exp.task.parts["train"][1], minlength=ds.n_items)
    arrays["popularity"] = np.lexsort((np.arange(ds.n_items), -counts.numpy())).astype(np.int64)
    if "title" in ds.extras and len(ds.extras["title"]) == ds.n_items:
        arrays["item_title"] = np.asarray(ds.extras["title"]).astype(str)
    for name, values in ds.categories.items():
        arrays[f"category_{name}"] = values.astype(np.int64)
        names = ds.extras.get(f"{name}_names")
        if names is not None:
            arrays[f"category_{name}_names"] = np.asarray(names).astype(str)
    config = OmegaConf.to_container(exp.cfg, resolve=True)
    manifest = {"format": FORMAT, "version": VERSION, "kind": kind, "max_k": int(max_k) if kind == "ranked" else None,
                "model": exp.cfg.model.get("name"), "dataset": ds.name, "n_users": ds.n_users,
                "n_items": ds.n_items, "checkpoint": str(checkpoint), "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
                "provenance": provenance(config, exp.dataset_fingerprint)}
    with atomic_directory(Path(out), overwrite=overwrite) as tmp:
        files = {}
        for key, value in arrays.items():
            path = tmp / f"{key}.npy"
            np.save(path, np.ascontiguousarray(value), allow_pickle=False)
            files[f"{key}.npy"] = file_sha256(path)
        manifest["files"] = files
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2, default=str))
    return Path(out)
