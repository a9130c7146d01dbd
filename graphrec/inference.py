"""Re-evaluating a saved run and serving top-K lists from a checkpoint."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from omegaconf import OmegaConf

from graphrec.errors import ConfigError, GraphrecError
from graphrec.experiment import Experiment, build_experiment
from graphrec.checkpoints import load_checkpoint


def load_run(checkpoint: str | Path, device: str | None = None) -> Experiment:
    """The experiment a checkpoint was trained in (same data, split and graphs), with its weights loaded."""
    ckpt = load_checkpoint(checkpoint)
    if "config" not in ckpt:
        raise GraphrecError(f"{checkpoint}: checkpoint carries no config (not written by graphrec train)")
    cfg = OmegaConf.create(ckpt["config"])
    if device is not None:
        cfg.device = device
    exp = build_experiment(cfg)
    trained_on = ckpt.get("dataset_fingerprint")
    if trained_on is not None and trained_on != exp.dataset_fingerprint:
        raise GraphrecError(f"{checkpoint}: dataset '{exp.dataset.name}' is not the one this run was trained on "
                            f"(fingerprint {exp.dataset_fingerprint}, trained on {trained_on}); it was replaced "
                            f"or re-prepared since: prepare the original again, or train anew")
    try:
        exp.model.load_state_dict(ckpt["model"])
    except (RuntimeError, KeyError) as exc:
        raise GraphrecError(f"{checkpoint}: weights do not fit model '{cfg.model.get('name')}' "
                            f"({str(exc).splitlines()[0]})") from None
    exp.model.eval()
    return exp


def require_ranking(exp: Experiment, what: str) -> None:
    """One line saying why ``what`` does not apply to a click-through model (it scores impressions with their
    histories, not every item for a user)."""
    if exp.model.task != "ranking":
        raise ConfigError(f"{what}: {type(exp.model).__name__} is a '{exp.model.task}' model: it predicts clicks of "
                          f"impressions from their histories, not scores over all items; `graphrec evaluate` "
                          f"re-evaluates it")


def evaluate_checkpoint(checkpoint: str | Path, device: str | None = None) -> dict[str, dict[str, float]]:
    """The run's task metrics on its validation part (when it has one) and its test part."""
    exp = load_run(checkpoint, device)
    return {part: exp.evaluate(part) for part in ("valid", "test") if part == "test" or exp.has_valid()}


@torch.no_grad()
def recommend(exp: Experiment, users: list[int], k: int = 10, exclude: str = "train") -> list[dict[str, Any]]:
    """Top-``k`` items per user, excluding the items of the splits named in ``exclude`` (``none``, ``train``,
    ``train+valid`` or ``all``: the same choices as the HTTP service)."""
    parts = {"none": [], "train": ["train"], "train+valid": ["train", "valid"], "all": ["train", "valid", "test"]}
    require_ranking(exp, "recommend")
    if exclude not in parts:
        raise ConfigError(f"exclude: expected one of {', '.join(parts)}, got '{exclude}'")
    n_users, n_items = exp.dataset.n_users, exp.dataset.n_items
    bad = [u for u in users if not 0 <= int(u) < n_users]
    if bad:
        raise ConfigError(f"users: id {bad[0]} out of range (the dataset has {n_users} users)")
    if not 0 < k <= n_items:
        raise ConfigError(f"k: must be between 1 and {n_items}")
    u = torch.tensor([int(x) for x in users], dtype=torch.long)
    scores = exp.model.score(u.to(exp.device)).float().cpu()
    for name in parts[exclude]:
        rows, cols = exp.task.csr[name].gather(u)
        scores[rows, cols] = float("-inf")
    top = scores.topk(k, dim=1)
    raw_items = exp.dataset.raw.get("item_id")
    raw_users = exp.dataset.raw.get("user_id")
    out = []
    for row, user in enumerate(u.tolist()):
        items = top.indices[row].tolist()
        keep = [j for j, s in enumerate(top.values[row].tolist()) if s != float("-inf")]
        rec = {"user": user, "items": [items[j] for j in keep],
               "scores": [round(float(top.values[row, j]), 6) for j in keep]}
        if raw_users is not None:
            rec["raw_user"] = str(raw_users[user])
        if raw_items is not None:
            rec["raw_items"] = [str(raw_items[i]) for i in rec["items"]]
        out.append(rec)
    return out
