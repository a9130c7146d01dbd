"""ALPINE (Li, Liu, Yin, Cui, Xu & Nie, ACM MM 2019): routing micro-videos via a temporal graph-guided
recommender, the strongest baseline of MTIN's Table 2, on ``ctr``.

Its published mechanism: the user's click sequence and non-click sequence each form a temporal graph of
micro-videos (an item links to the items before it); a temporal graph-based LSTM walks each sequence, its input
at step t guided by the graph neighbours of the item; the user's interest is read at several levels (the
dynamic interest of the last state and the diverse interests of all states attended by the candidate); a
click branch and a non-click branch score the candidate, and the prediction combines both linearly.

Here, per branch b ∈ {pos, neg} (separate parameters):
- graph guidance: g_t = Σ_{j<t} α_tj x_j with α_t = softmax_j(x_tᵀ W x_j) over the earlier valid items — the
  temporal graph is the user's own sequence with learned edge weights;
- z_t = LSTM([x_t ; g_t]); interests: the last valid state z_T (dynamic) and Σ_t softmax_t(x_eᵀ z_t) z_t
  (diverse, attended by the candidate);
- P_b = MLP([z_T ; attended ; x_e]); logit = a · P_pos + b · P_neg + c.
Simplifications (documented): ALPINE builds its graph from co-occurrence across all users and gates the LSTM
cell with it; here the graph is per sequence and enters through the input; its user-ID level is left out (the
sequence models here read no user IDs).
"""

from __future__ import annotations

import torch
from torch import nn

from graphrec.models.ctr.common import ClickModel, ItemVectors, history
from graphrec.models.layers.mlp import mlp
from graphrec.models.ctr.thacil import target_attention


class TemporalGraphBranch(nn.Module):
    def __init__(self, dim: int, hidden: int):
        super().__init__()
        self.edge = nn.Linear(dim, dim, bias=False)
        self.lstm = nn.LSTM(2 * dim, dim, batch_first=True)
        self.output = mlp([3 * dim, hidden, 1], nn.ReLU)

    def forward(self, x: torch.Tensor, mask: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        L = x.shape[1]
        earlier = torch.tril(torch.ones(L, L, dtype=torch.bool, device=x.device), -1)[None] & mask[:, None, :]
        logits = (self.edge(x) @ x.transpose(1, 2)).masked_fill(~earlier, float("-inf"))
        guide = torch.softmax(logits, -1).nan_to_num(0.0) @ x  # the first item has no earlier neighbour
        states, _ = self.lstm(torch.cat([x, guide], -1))
        last = states.gather(1, (mask.sum(1) - 1).clamp_min(0)[:, None, None].expand(-1, 1, x.shape[-1]))
        last = last.squeeze(1) * mask.any(1, keepdim=True)
        diverse = target_attention(target, states, mask)
        return self.output(torch.cat([last, diverse, target], -1)).squeeze(-1)


class ALPINE(ClickModel):
    def __init__(self, n_users: int, n_items: int, features: dict[str, torch.Tensor] | None = None,
                 embedding_dim: int = 64, hidden: int = 64, use_features: bool = True, reg_weight: float = 1e-4):
        super().__init__(n_users, n_items)
        d = int(embedding_dim)
        self.items = ItemVectors(n_items, d, features, use_features)
        self.branches = nn.ModuleDict({b: TemporalGraphBranch(d, hidden) for b in ("pos", "neg")})
        self.combine = nn.Linear(2, 1)
        with torch.no_grad():
            self.combine.weight.copy_(torch.tensor([1.0, -1.0]))
            self.combine.bias.zero_()
        self.reg_weight = float(reg_weight)

    def forward(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        target = self.items(batch["item"])
        norm = target.pow(2).sum()
        scores = []
        for name, branch in self.branches.items():
            items, _, mask = history(batch, name)
            x = self.items(items)
            norm = norm + (x.pow(2).sum(-1) * mask).sum()
            scores.append(branch(x, mask, target))
        return self.combine(torch.stack(scores, -1)).squeeze(-1), norm / target.shape[0]
