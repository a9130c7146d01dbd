"""Training losses shared by models.

- BPR (Rendle et al. 2009): L = −mean log σ(s_ui − s_uj);
- L2 regularisation of the embeddings a batch touches: λ/2 · Σ‖e‖² / B (LightGCN eq. 15 per batch);
- pointwise binary cross-entropy on logits.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def pairwise_scores(user: torch.Tensor, pos: torch.Tensor, neg: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Dot-product scores ``(⟨u, i⟩ [B], ⟨u, j⟩ [B] or [B, n])`` for ``neg`` rows ``[B, d]`` or ``[B, n, d]``."""
    pos_scores = (user * pos).sum(-1)
    neg_scores = (user.unsqueeze(1) * neg).sum(-1) if neg.dim() == 3 else (user * neg).sum(-1)
    return pos_scores, neg_scores


def bpr_loss(pos_scores: torch.Tensor, neg_scores: torch.Tensor) -> torch.Tensor:
    """−mean log σ(pos − neg); ``neg_scores`` may be ``[B]`` or ``[B, n]`` (averaged over negatives)."""
    if neg_scores.dim() == pos_scores.dim() + 1:
        pos_scores = pos_scores.unsqueeze(-1)
    return F.softplus(neg_scores - pos_scores).mean()


def l2_regularization(*embeddings: torch.Tensor, batch_size: int | None = None) -> torch.Tensor:
    """½ Σ‖e‖² over the given embedding rows, divided by the batch size."""
    batch = batch_size or embeddings[0].shape[0]
    return sum(e.pow(2).sum() for e in embeddings) / (2.0 * batch)


def bce_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    return F.binary_cross_entropy_with_logits(logits, labels.float())
