"""Negative-free self-supervision in the BYOL / SimSiam manner, shared by BM3 and SelfCF.

A *target* view is the online representation with dropout, taken outside the graph of gradients
(ĥ = sg(dropout_p(h))); the online side passes a predictor f_p and is pulled towards the target by the negative
cosine similarity  C(h̃, ĥ) = 1 − mean_b cos(h̃_b, ĥ_b). Stopping the gradient at the target (and the
predictor's asymmetry) is what keeps the embeddings from collapsing without negatives.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def dropout_view(x: torch.Tensor, p: float) -> torch.Tensor:
    """sg(dropout_p(x)): a perturbed copy that no gradient flows through."""
    with torch.no_grad():
        return F.dropout(x.detach(), p, training=True)


def cosine_distance(online: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """C(h̃, ĥ) = 1 − mean over rows of cos(h̃, sg(ĥ))."""
    return 1.0 - F.cosine_similarity(online, target.detach(), dim=-1).mean()
