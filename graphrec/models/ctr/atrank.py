"""ATRank (Zhou, Bai, Song, Liu, Gai & Zhou, AAAI 2018), an attention-based baseline of MTIN's Table 2 on ``ctr``.

Heterogeneous behaviours — here the two kinds of the impression log, clicks (H_pos) and non-clicks (H_neg) — are
embedded as e = x_item + t_type + t_time (ATRank §3.1: the behaviour's item, its type and a bucketised time
encoding), projected per type into a shared latent space (its behaviour-specific projection), then
- a multi-head self-attention block (its "self-attention layer", with the residual and a feed-forward layer),
- a vanilla multi-head attention with the candidate as the query (its "vanilla attention"),
and a two-layer MLP on [u ; x_e] scores the candidate.
Simplifications: one self-attention block; the time bucket of a behaviour is ⌊log₂(1 + recency)⌋ with recency
its position counted back from the impression (the impression logs here use different time units, positions
do not); the candidate is projected like a click.
"""

from __future__ import annotations

import torch
from torch import nn

from graphrec.models.ctr.common import ClickModel, ItemVectors, history
from graphrec.models.layers.mlp import mlp


def recency_buckets(mask: torch.Tensor, n_buckets: int) -> torch.Tensor:
    """⌊log₂(1 + r)⌋ for r = 0 at the latest valid entry of each row, 1 before it, …; capped at n − 1."""
    position = torch.arange(mask.shape[1], device=mask.device)[None, :]
    recency = (mask.sum(1, keepdim=True) - 1 - position).clamp_min(0)
    return torch.log2(1.0 + recency.float()).floor().long().clamp_max(n_buckets - 1)


class ATRank(ClickModel):
    def __init__(self, n_users: int, n_items: int, features: dict[str, torch.Tensor] | None = None,
                 embedding_dim: int = 64, heads: int = 4, hidden: int = 64, time_buckets: int = 8,
                 dropout: float = 0.0, use_features: bool = True, reg_weight: float = 1e-4):
        super().__init__(n_users, n_items)
        d = int(embedding_dim)
        self.items = ItemVectors(n_items, d, features, use_features)
        self.type_emb = nn.Embedding(2, d)  # 0: non-click, 1: click
        self.time_emb = nn.Embedding(time_buckets, d)
        self.project = nn.ModuleList([nn.Linear(d, d) for _ in range(2)])  # per behaviour type
        self.self_attention = nn.MultiheadAttention(d, heads, dropout=dropout, batch_first=True)
        self.feed_forward = mlp([d, 2 * d, d], nn.ReLU)
        self.norm1, self.norm2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.target_attention = nn.MultiheadAttention(d, heads, dropout=dropout, batch_first=True)
        self.output = mlp([2 * d, hidden, 1], nn.ReLU)
        self.time_buckets, self.reg_weight = int(time_buckets), float(reg_weight)

    def behaviours(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        parts, masks, norm = [], [], 0.0
        for kind, branch in ((1, "pos"), (0, "neg")):
            items, _, mask = history(batch, branch)
            x = self.items(items)
            norm = norm + (x.pow(2).sum(-1) * mask).sum()
            e = x + self.type_emb.weight[kind] + self.time_emb(recency_buckets(mask, self.time_buckets))
            parts.append(self.project[kind](e))
            masks.append(mask)
        return torch.cat(parts, 1), torch.cat(masks, 1), norm

    def forward(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        target = self.items(batch["item"])
        seq, mask, norm = self.behaviours(batch)
        # a row without any behaviour attends to one dummy key so that the softmax stays finite; its u is zeroed
        empty = ~mask.any(1)
        keys = mask.clone()
        keys[empty, 0] = True
        h, _ = self.self_attention(seq, seq, seq, key_padding_mask=~keys, need_weights=False)
        h = self.norm1(seq + h)
        h = self.norm2(h + self.feed_forward(h))
        query = self.project[1](target + self.type_emb.weight[1])[:, None, :]
        user, _ = self.target_attention(query, h, h, key_padding_mask=~keys, need_weights=False)
        user = user.squeeze(1) * (~empty)[:, None]
        logit = self.output(torch.cat([user, target], -1)).squeeze(-1)
        return logit, (target.pow(2).sum() + norm) / target.shape[0]
