"""Training losses shared by models.

- BPR (Rendle et al. 2009): L = −mean log σ(s_ui − s_uj);
- L2 regularisation of the embeddings a batch touches: λ/2 · Σ‖e‖² / B (LightGCN eq. 15 per batch);
- pointwise binary cross-entropy on logits;
- InfoBPR (Hu et al., MGDCF 2022): softmax cross-entropy of the positive against n sampled negatives;
- in-batch InfoNCE between two views of the same nodes (MGCN, LGMRec, SMORE, SLMRec);
- the non-sampling regression over all items of A²BM²GL eq. 7 (weighted regression, Hu et al. 2008) and
  eq. 8 (adaptive boundaries), computed without a users × items matrix (``all_item_regression``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch.utils.checkpoint import checkpoint


def pairwise_scores(user: torch.Tensor, pos: torch.Tensor,
                    neg: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
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


def info_bpr_loss(pos_scores: torch.Tensor, neg_scores: torch.Tensor) -> torch.Tensor:
    """−mean log( exp(s⁺) / (exp(s⁺) + Σ_j exp(s⁻_j)) ) for ``neg_scores`` ``[B, n]``."""
    logits = torch.cat([pos_scores.unsqueeze(1), neg_scores.view(pos_scores.shape[0], -1)], dim=1)
    return F.cross_entropy(logits, torch.zeros(logits.shape[0], dtype=torch.long, device=logits.device))


def in_batch_softmax(view: torch.Tensor, other: torch.Tensor, temperature: float) -> torch.Tensor:
    """−mean_b log( exp(⟨a_b, c_b⟩/τ) / Σ_k exp(⟨a_b, c_k⟩/τ) ): each row against the other rows of the batch
    (rows [B, d] of two views of the same nodes, or of users and their positives)."""
    logits = (view / temperature) @ other.T  # 1/τ on [B, d], not on the [B, B] logits (forward and backward)
    return F.cross_entropy(logits, torch.arange(view.shape[0], device=view.device))


def info_nce(view: torch.Tensor, other: torch.Tensor, temperature: float) -> torch.Tensor:
    """In-batch InfoNCE: ``in_batch_softmax`` on cosine similarities."""
    return in_batch_softmax(F.normalize(view, dim=1), F.normalize(other, dim=1), temperature)


def _row_logsumexp(rows: torch.Tensor, candidates: torch.Tensor) -> torch.Tensor:
    return torch.logsumexp(rows @ candidates.T, dim=1)


class _BoundedRowLogSumExp(torch.autograd.Function):
    """lse_b = log Σ_k exp(a_b · c_k) in row chunks, for logits known to lie in [−M, M] (M = ``bound`` < 40):
    exp(logit − M) can neither overflow nor underflow, so no max pass; backward recomputes each chunk's
    softmax exp(logit − lse) in place (memory O(chunk · n), never the [rows, n] matrix). Computed in fp32."""

    @staticmethod
    def forward(ctx, a: torch.Tensor, c: torch.Tensor, bound: float, chunk: int) -> torch.Tensor:
        ctx.dtypes = (a.dtype, c.dtype)
        with torch.autocast(a.device.type, enabled=False):
            a, c = a.float(), c.float()
            total = torch.empty(a.shape[0], dtype=a.dtype, device=a.device)
            for start in range(0, a.shape[0], chunk):
                total[start:start + chunk] = torch.mm(a[start:start + chunk], c.T).sub_(bound).exp_().sum(1)
            lse = total.log_().add_(bound)
        ctx.save_for_backward(a, c, lse)
        ctx.chunk = chunk
        return lse

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        a, c, lse = ctx.saved_tensors
        grad = grad.float()
        grad_a, grad_c = torch.empty_like(a), torch.zeros_like(c)
        with torch.autocast(a.device.type, enabled=False):
            for start in range(0, a.shape[0], ctx.chunk):
                rows = slice(start, start + ctx.chunk)
                weights = torch.mm(a[rows], c.T).sub_(lse[rows, None]).exp_().mul_(grad[rows, None])
                grad_a[rows] = weights @ c
                grad_c.addmm_(weights.T, a[rows])
        return grad_a.to(ctx.dtypes[0]), grad_c.to(ctx.dtypes[1]), None, None


def info_nce_all(anchor: torch.Tensor, positive: torch.Tensor, candidates: torch.Tensor,
                 temperature: float, chunk_rows: int | None = None) -> torch.Tensor:
    """Σ_b −log( exp(cos(a_b, p_b)/τ) / Σ_k exp(cos(a_b, c_k)/τ) ): each anchor row against *every* row of
    ``candidates`` (``positive`` rows are rows of ``candidates``), not only the batch's; a sum over b.
    ``chunk_rows``: anchors in blocks whose [block, n] logits are recomputed in backward, so memory stays
    O(block · n) when every node is an anchor (no N × N matrix); the logits are cosines / τ, bounded by 1/τ, so
    for τ > 1/40 the blocks skip the max pass of a log-sum-exp (``_BoundedRowLogSumExp``)."""
    a = F.normalize(anchor, dim=1) / temperature  # 1/τ on [B, d], not on the [B, n] logits
    p, c = F.normalize(positive, dim=1), F.normalize(candidates, dim=1)
    bound = 1.0 / temperature
    if chunk_rows is None:
        lse = _row_logsumexp(a, c)
    elif bound < 40.0:
        lse = _BoundedRowLogSumExp.apply(a, c, bound, int(chunk_rows))
    else:
        lse = torch.cat([checkpoint(_row_logsumexp, block, c, use_reentrant=False) for block in a.split(chunk_rows)])
    return (lse - (a * p).sum(1)).sum()


def all_item_regression(user: torch.Tensor, pos_scores: torch.Tensor, upper: torch.Tensor, lower: torch.Tensor,
                        user_weight: torch.Tensor, gram: torch.Tensor, item_sum: torch.Tensor, n_items: int,
                        negative_weight: float = 1.0) -> torch.Tensor:
    """Σ over a batch of training pairs (u, v) of

        (B⁺_u − s_uv)² + c₀ [ w_u Σ_{all items j} (s_uj − B⁻_u)² − (s_uv − B⁻_u)² ],

    with Σ_j (s_uj − B⁻)² = e_uᵀ G e_u − 2 B⁻ e_u·S + |V| B⁻², G = Σ_j e_j e_jᵀ (``gram``),
    S = Σ_j e_j (``item_sum``): no users × items matrix. With ``user_weight`` w_u = 1/d_u (d_u the user's training
    positives) the sum over all training pairs is exactly
    Σ_u [ Σ_{v∈N⁺(u)} (B⁺_u − s_uv)² + c₀ Σ_{j∈N⁻(u)} (s_uj − B⁻_u)² ],
    A²BM²GL eq. 8 (c₀ = 1) or eq. 7 on raw scores (B⁺ = 1, B⁻ = 0). Rows of ``user`` [B, d] are the users of
    the pairs, ``pos_scores`` [B] their scores s_uv, ``upper``/``lower`` [B] the boundaries B⁺_u, B⁻_u.
    """
    all_items = ((user @ gram) * user).sum(-1) - 2.0 * lower * (user @ item_sum) \
        + n_items * lower.pow(2)
    negatives = user_weight * all_items - (pos_scores - lower).pow(2)
    return ((upper - pos_scores).pow(2) + negative_weight * negatives).sum()
