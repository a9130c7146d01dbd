"""The representation study of MTL's Table I: how well k-means of each representation recovers the classes.

For each representation (each MMoE input alone, the inputs concatenated, the MMoE's z, the DeepWalk tag
vector ē, and the topic representation [z ‖ ē]), every row ℓ2-normalised, k-means (``graphrec.topics.kmeans``)
with K = the number of classes present clusters the held-out items (those the MMoE never trained on) that
have a label, and ARI / NMI (``graphrec.evaluation.clustering``) compare the clusters with the primary and
the secondary classes.

A video without tags has no tag vector of its own; the fit (``untagged: predicted``) fills its ē from the MMoE
tag tower's predicted tags. So the rows say what they hold: the tag vector is scored on the tagged held-out
videos only (a filled ē is the MMoE's, not DeepWalk's), and [z ‖ ē] twice when the fit filled: with ē = 0
for the untagged videos, and with the fill — each row's item count is in the table.
"""

from __future__ import annotations

import numpy as np
import torch

from graphrec.evaluation.clustering import ari, nmi
from graphrec.topics.kmeans import kmeans


def _unit_rows(x: np.ndarray) -> np.ndarray:
    norm = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.maximum(norm, 1e-12)


def representations(reps: dict[str, np.ndarray]) -> dict[str, tuple[np.ndarray, np.ndarray | None]]:
    """The rows of Table I, by name, from a fit's ``representations.npz``: (vectors, the items the row is scored
    on, None for all; module doc)."""
    inputs = {k[len("input_"):]: v for k, v in sorted(reps.items()) if k.startswith("input_")}
    out: dict[str, tuple[np.ndarray, np.ndarray | None]] = {f"{name} only": (v, None) for name, v in inputs.items()}
    if len(inputs) > 1:
        out["inputs concatenated"] = (np.concatenate(list(inputs.values()), 1), None)
    out["MMoE z"] = (reps["z"], None)
    tagged = reps["has_tags"].astype(bool)
    out["DeepWalk tag vector (tagged videos only)"] = (reps["tag_vector"], tagged)
    own = np.where(tagged[:, None], reps["tag_vector"], 0.0)  # ē = 0 for a video without tags
    out["[z ‖ tag vector], untagged ē = 0"] = (_unit_rows(np.concatenate([_unit_rows(reps["z"]), _unit_rows(own)],
                                                                          1)), None)
    if np.abs(reps["tag_vector"][~tagged]).sum() > 0:  # the fit filled ē of untagged videos
        out["[z ‖ tag vector], untagged ē from the tag tower"] = (reps["topic_vector"], None)
    return out


def cluster_scores(x: np.ndarray, labels: np.ndarray, seed: int, n_init: int = 3) -> dict[str, float]:
    """ARI and NMI of k-means (K = distinct labels) of the rows of ``x`` against ``labels``."""
    k = int(np.unique(labels).size)
    xt = torch.nn.functional.normalize(torch.from_numpy(np.asarray(x, np.float32)), dim=1)
    pred = kmeans(xt, k, n_init=n_init, seed=seed).labels.numpy()
    return {"ari": ari(pred, labels), "nmi": nmi(pred, labels), "k": k}


def table_one(reps: dict[str, np.ndarray], seed: int) -> list[dict]:
    """One row per representation: ARI / NMI against the primary (PC) and secondary (SC) classes."""
    rows = []
    held = reps["heldout"].astype(bool)
    for name, (x, items) in representations(reps).items():
        row = {"representation": name, "dim": int(x.shape[1])}
        for level, key in (("pc", "primary"), ("sc", "secondary")):
            keep = held & (reps[key] >= 0) & (True if items is None else items)
            scores = cluster_scores(x[keep], reps[key][keep], seed)
            row.update({f"{level}_ari": scores["ari"], f"{level}_nmi": scores["nmi"], f"{level}_k": scores["k"],
                        f"{level}_items": int(keep.sum())})
        rows.append(row)
    return rows
