"""What the topic pipeline reads from a dataset: content inputs, class labels and the tags known at training time.

- ``content_inputs``: the MMoE's inputs by name: ``text`` — the item texts of ``text_fields`` (extras, joined
  by spaces) encoded by ``graphrec.data.text_features`` — and each dataset feature of ``feature_modalities``
  (image features, or a ready text vector); each standardised per column;
- ``usable_tags``: the (item, tag) pairs the pipeline may use. Tags that users attach while rating (ml-latest)
  reveal interactions: with ``tags="before_valid"`` a tag counts only when its user had no valid or test
  impression yet at the time it was attached (the click-through split of ``eval.*``, the one the rankers use),
  so nothing of a user's held-out part reaches a topic; ``all`` keeps every tag (content tags, KuaiRec);
  ``auto`` is ``before_valid`` when the tags carry users and times and the dataset has impressions.
"""

from __future__ import annotations

import numpy as np
import torch
from omegaconf import DictConfig

from graphrec.data.dataset import Dataset
from graphrec.data.text_features import encode_texts
from graphrec.errors import ConfigError, DataError
from graphrec.tasks.ctr_data import configured_split

TAG_RULES = ("auto", "all", "before_valid")


def standardise(x: np.ndarray) -> torch.Tensor:
    t = torch.from_numpy(np.asarray(x, np.float32))
    return (t - t.mean(0)) / t.std(0).clamp_min(1e-6)


def content_inputs(ds: Dataset, text_fields: list[str], feature_modalities: list[str], text_encoder: str,
                   text_dim: int) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """(inputs by name, how each was made) — module doc."""
    inputs, described = {}, {}
    if text_fields:
        missing = [f for f in text_fields if f not in ds.extras]
        if missing:
            raise ConfigError(f"inputs.text_fields: {missing} not in dataset '{ds.name}' "
                              f"(its extras: {sorted(ds.extras)})")
        texts = [" ".join(str(ds.extras[f][i]) for f in text_fields).strip() for i in range(ds.n_items)]
        features, encoder = encode_texts(texts, text_encoder, text_dim)
        inputs["text"], described["text"] = standardise(features), f"{'+'.join(text_fields)} by {encoder}"
    for modality in feature_modalities:
        if modality not in ds.features:
            raise ConfigError(f"inputs.feature_modalities: '{modality}' not in dataset '{ds.name}' "
                              f"(it has {sorted(ds.features) or 'no features'})")
        inputs[modality], described[modality] = standardise(ds.features[modality]), f"feature '{modality}'"
    if not inputs:
        raise ConfigError("inputs: no content input (set inputs.text_fields or inputs.feature_modalities)")
    return inputs, described


def class_labels(ds: Dataset, name: str, field: str) -> np.ndarray:
    if name not in ds.categories:
        raise ConfigError(f"classes.{field}: dataset '{ds.name}' has no category '{name}' "
                          f"(it has {sorted(ds.categories) or 'none'})")
    return ds.categories[name].astype(np.int64)


def usable_tags(ds: Dataset, rule: str, ecfg: DictConfig) -> tuple[np.ndarray, np.ndarray, int, str]:
    """(item, tag, n_tags, the rule applied) — module doc."""
    if rule not in TAG_RULES:
        raise ConfigError(f"tags: expected one of {', '.join(TAG_RULES)}, got '{rule}'")
    if not ds.tags:
        raise DataError(f"dataset '{ds.name}' has no item tags: the tag graph (eq. 3) needs them")
    item, tag = ds.tags["item"], ds.tags["tag"]
    n_tags = int(tag.max()) + 1
    timed = "user" in ds.tags and "timestamp" in ds.tags
    if rule == "auto":
        rule = "before_valid" if timed and ds.impressions else "all"
    if rule == "all":
        return item, tag, n_tags, rule
    if not timed or not ds.impressions:
        raise ConfigError(f"tags=before_valid: dataset '{ds.name}' has no tag users and times or no impressions")
    imp = ds.impressions
    times = np.asarray(imp["timestamp"])
    labels = configured_split(imp, ecfg)
    held = labels > 0
    first_held = np.full(ds.n_users, np.inf)
    np.minimum.at(first_held, np.asarray(imp["user"])[held], times[held].astype(np.float64))
    user = ds.tags["user"]
    keep = (user < 0) | (ds.tags["timestamp"] < first_held[np.maximum(user, 0)])
    return item[keep], tag[keep], n_tags, rule
