"""THACIL (Chen, Liu, Zha, Zhou, Xiong & Li, ACM MM 2018): temporal hierarchical attention for micro-video
click-through prediction, a baseline of MTIN's Table 2 on ``ctr``.

Its published mechanism, over the clicked history H_pos (oldest first):
1. temporal windows: the sequence is cut into consecutive windows of ``window`` clicks (short-term interest);
2. inside each window, multi-head self-attention among its clicks, then an attention of the candidate x_e
   over them gives the window's vector (item-level attention);
3. across windows, forward (causal) multi-head self-attention: each window attends to itself and earlier ones
   (long-term interest, its "forward multi-head self-attention");
4. an attention of x_e over the windows gives u; a two-layer MLP on [u ; x_e] scores the candidate.
Simplifications (documented): the category-level attention branch is left out (the impression logs here carry
no categories; THACIL's second level needs them); one self-attention block per level; the target attention is
a scaled dot product; windows are cut from the start of the left-aligned history, so the last window of a
user may be partial (its padding is masked).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from graphrec.models.ctr.common import ClickModel, ItemVectors, history
from graphrec.models.layers.mlp import mlp


def target_attention(query: torch.Tensor, keys: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Σ_j softmax_j(qᵀk_j / √d) k_j over the valid keys (``keys`` [..., n, d], ``query`` [..., d]); 0 if none."""
    logits = (keys @ query[..., None]).squeeze(-1) / keys.shape[-1] ** 0.5
    weight = torch.softmax(logits.masked_fill(~mask, float("-inf")), -1).nan_to_num(0.0)
    return (weight[..., None] * keys).sum(-2)


class THACIL(ClickModel):
    def __init__(self, n_users: int, n_items: int, features: dict[str, torch.Tensor] | None = None,
                 embedding_dim: int = 64, window: int = 5, heads: int = 4, hidden: int = 64,
                 use_features: bool = True, reg_weight: float = 5e-5):
        super().__init__(n_users, n_items)
        d = int(embedding_dim)
        self.items = ItemVectors(n_items, d, features, use_features)
        self.window = int(window)
        self.item_attention = nn.MultiheadAttention(d, heads, batch_first=True)
        self.window_attention = nn.MultiheadAttention(d, heads, batch_first=True)
        self.output = mlp([2 * d, hidden, 1], nn.ReLU)
        self.reg_weight = float(reg_weight)

    def forward(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        target = self.items(batch["item"])
        items, _, mask = history(batch, "pos")
        x = self.items(items)
        norm = (x.pow(2).sum(-1) * mask).sum()
        B, L, d = x.shape
        pad = (-L) % self.window
        x, mask = F.pad(x, (0, 0, 0, pad)), F.pad(mask, (0, pad))
        n_win = x.shape[1] // self.window
        xw = x.view(B * n_win, self.window, d)
        mw = mask.view(B * n_win, self.window)
        keys = mw.clone()
        keys[:, 0] = True  # an empty window attends to one padding key; it is masked out below
        h, _ = self.item_attention(xw, xw, xw, key_padding_mask=~keys, need_weights=False)
        h = xw + h
        query = target[:, None, :].expand(B, n_win, d).reshape(B * n_win, d)
        windows = target_attention(query, h, mw).view(B, n_win, d)
        present = mw.any(1).view(B, n_win)
        causal = torch.triu(torch.ones(n_win, n_win, dtype=torch.bool, device=x.device), 1)
        long_term, _ = self.window_attention(windows, windows, windows, attn_mask=causal, need_weights=False)
        long_term = windows + long_term
        user = target_attention(target, long_term, present)
        logit = self.output(torch.cat([user, target], -1)).squeeze(-1)
        return logit, (target.pow(2).sum() + norm) / B
