"""The representation study of MTL's Table I: how well k-means of each representation recovers the classes.

For each representation (each MMoE input alone, the inputs concatenated, the MMoE's z, the DeepWalk tag
vector ē, and the topic representation [z ‖ ē]), every row ℓ2-normalised, k-means (``graphrec.topics.kmeans``)
with K = the number of classes present clusters the held-out items (those the MMoE never trained on) that
have a label, and ARI / NMI (``graphrec.evaluation.clustering``) compare the clusters with the primary and
the secondary classes. Items without tags keep ē = 0, as the pipeline gives them.
"""

from __future__ import annotations

import numpy as np
import torch

from graphrec.evaluation.clustering import ari, nmi
from graphrec.topics.kmeans import kmeans


def representations(reps: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The rows of Table I, by name, from a fit's ``representations.npz``."""
    inputs = {k[len("input_"):]: v for k, v in sorted(reps.items()) if k.startswith("input_")}
    out = {f"{name} only": v for name, v in inputs.items()}
    if len(inputs) > 1:
        out["inputs concatenated"] = np.concatenate(list(inputs.values()), 1)
    out["MMoE z"] = reps["z"]
    out["DeepWalk tag vector"] = reps["tag_vector"]
    out["[z ‖ tag vector]"] = reps["topic_vector"]
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
    for name, x in representations(reps).items():
        row = {"representation": name, "dim": int(x.shape[1])}
        for level, key in (("pc", "primary"), ("sc", "secondary")):
            keep = held & (reps[key] >= 0)
            scores = cluster_scores(x[keep], reps[key][keep], seed)
            row.update({f"{level}_ari": scores["ari"], f"{level}_nmi": scores["nmi"], f"{level}_k": scores["k"],
                        f"{level}_items": int(keep.sum())})
        rows.append(row)
    return rows
