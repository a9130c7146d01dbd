"""``graphrec topics assign``: every video gets each topic within cosine distance τ₃ (MTL §III-A3).

``tau3``: a cosine distance, or ``auto`` (the default): the τ₃ at which videos get ``topics_per_item`` topics
on average (the paper reports ≈ 4 at its τ₃ = 0.6; ``graphrec.topics.kmeans.tau_for_mean_count``) — label-free.

Reads the fit run dir (``results.json``, ``representations.npz``, ``centres.npz``: its declared inputs) and
writes into its own run dir ``assignments.npz`` (``item``, ``topic`` pairs; ``nearest`` per item) and
``results.json``. With ``dataset_name`` set it also writes a prepared dataset: the fit's dataset plus the
item field ``topic`` (``itemset.topic.*``, every assigned topic) and the category ``topic`` (the nearest), with
the fit run recorded in ``source.topics``; rankers read it with ``model.item_fields=[topic]``.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import torch
from omegaconf import DictConfig

from graphrec.data.storage import fingerprint, save_dataset
from graphrec.errors import ConfigError, DataError
from graphrec.experiment import load_configured_dataset, resolve_device
from graphrec.topics.fit import save_arrays
from graphrec.topics.kmeans import tau_for_mean_count, topics_within
from graphrec.checkpoints import write_json

log = logging.getLogger("graphrec")


def read_stage(run_dir: str | Path | None, stage: str, field: str) -> tuple[Path, dict]:
    """A finished stage's run dir and its ``results.json``, or a ConfigError naming ``field``."""
    if not run_dir:
        raise ConfigError(f"{field}: the run dir of `graphrec topics {stage}` (its results.json)")
    path = Path(str(run_dir))
    try:
        results = json.loads((path / "results.json").read_text())
    except (OSError, ValueError):
        raise ConfigError(f"{field}: {path} holds no readable results.json of a finished `topics {stage}`") from None
    if results.get("stage") != stage:
        raise ConfigError(f"{field}: {path} is a `topics {results.get('stage')}` run, not `topics {stage}`")
    return path, results


def load_npz(path: Path) -> dict[str, np.ndarray]:
    try:
        with np.load(path, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    except (OSError, ValueError) as exc:
        raise DataError(f"{path}: unreadable ({exc})") from None


def assign_topics(cfg: DictConfig, run_dir: Path) -> dict:
    fit_dir, fit = read_stage(cfg.fit_dir, "fit", "fit_dir")
    reps = load_npz(fit_dir / "representations.npz")
    centres = load_npz(fit_dir / "centres.npz")["centres"]
    device = resolve_device(cfg.device)
    vectors, centre_t = torch.from_numpy(reps["topic_vector"]).to(device), torch.from_numpy(centres).to(device)
    if cfg.tau3 == "auto":
        tau = tau_for_mean_count(vectors, centre_t, float(cfg.topics_per_item), seed=int(fit["seed"]))
    else:
        tau = float(cfg.tau3)
    item, topic = topics_within(vectors, centre_t, tau)
    item, topic = item.cpu().numpy(), topic.cpu().numpy()
    per_item = np.bincount(item, minlength=reps["topic_vector"].shape[0])
    nearest = reps["nearest_topic"]
    save_arrays(run_dir / "assignments.npz", item=item, topic=topic, nearest=nearest)
    results = {"stage": "assign", "fit_dir": str(fit_dir), "dataset": fit["dataset"], "tau3": tau,
               "tau3_rule": str(cfg.tau3),
               "k": int(centres.shape[0]), "pairs": int(item.size),
               "topics_per_item": {"mean": float(per_item.mean()), "median": float(np.median(per_item)),
                                   "max": int(per_item.max())},
               "topics_used": int(np.unique(topic).size)}
    log.info(f"assigned {item.size:,} (item, topic) pairs: {per_item.mean():.2f} topics per item "
             f"(τ3 {tau:.4f}), {results['topics_used']} of {centres.shape[0]} topics used")
    if cfg.get("dataset_name"):
        ds = load_configured_dataset(cfg.dataset, cfg.get("data_root"))
        if fingerprint(ds) != fit["dataset_fingerprint"]:
            raise ConfigError(f"dataset: '{ds.name}' is not the dataset the fit ran on (its fingerprint differs)")
        ds.name = str(cfg.dataset_name)
        ds.item_sets = {**ds.item_sets, "topic.item": item.astype(np.int64), "topic.value": topic.astype(np.int64)}
        ds.categories = {**ds.categories, "topic": nearest.astype(np.int64)}
        ds.source = {k: v for k, v in ds.source.items() if k != "checksums"}
        ds.source["topics"] = {"fit_dir": str(fit_dir), "assign_dir": str(run_dir), "k": int(centres.shape[0]),
                               "tau3": tau, "from_dataset": fit["dataset"]}
        path = save_dataset(ds, cfg.get("data_root"), overwrite=bool(cfg.get("overwrite", False)),
                            overwrite_flag="overwrite=true")
        results["dataset_written"] = str(path)
        log.info(f"wrote dataset '{ds.name}' with the item field 'topic' ({path})")
    write_json(results, run_dir / "results.json")
    return results
