"""DIN: Deep Interest Network (Zhou et al., KDD 2018), a click-through model for ``eval=ctr``.

Eq. 3 of the paper: the user's interest in a candidate A is the attention-weighted sum of the clicked history,

    v_U(A) = Σ_j a(e_j, v_A) · e_j,   a(e_j, v_A) = MLP([e_j ; v_A ; e_j − v_A ; e_j ⊙ v_A]) ∈ R,

with the weights left unnormalised (no softmax: the paper keeps the intensity of the interest), padded history
entries masked to 0. The click logit is MLP([e_u ; v_U(A) ; v_A ; v_U(A) ⊙ v_A]) (200–80–1 in the paper).
Loss: the log loss of each impression's click (eq. 5) plus the paper's mini-batch aware regulariser (eq. 6):
λ/2 · Σ over the embedding rows the batch uses of ‖w‖² / (rows' batch counts), here simply the squared norm of
the rows gathered for the batch divided by the batch size.

Item vectors: an ID embedding, plus a linear projection of the item's features (every modality concatenated)
when the dataset has any and ``use_features`` is true. Deviations: PReLU for the paper's Dice activation
(Dice is PReLU with a data-adaptive rectifier point; the difference is small in its Table 4); the user-profile
field group is the user-ID embedding only (the datasets here have no profile features); only the clicked
history H_pos is attended over (DIN has one behaviour sequence; the non-clicked one is not used).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from graphrec.models.ctr.common import ClickModel, ItemVectors, history
from graphrec.models.layers.mlp import mlp


class DIN(ClickModel):
    def __init__(self, n_users: int, n_items: int, features: dict[str, torch.Tensor] | None = None,
                 embedding_dim: int = 32, attention_hidden: Sequence[int] = (80, 40),
                 hidden: Sequence[int] = (200, 80), use_features: bool = True, reg_weight: float = 1e-4):
        super().__init__(n_users, n_items)
        d = int(embedding_dim)
        self.user_emb = nn.Embedding(n_users, d)
        nn.init.normal_(self.user_emb.weight, std=0.01)
        self.items = ItemVectors(n_items, d, features, use_features)
        self.attention = mlp([4 * d, *attention_hidden, 1])
        self.output = mlp([4 * d, *hidden, 1])
        self.reg_weight = float(reg_weight)

    def forward(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        target = self.items(batch["item"])  # [B, d]
        items, _, mask = history(batch, "pos")
        hist = self.items(items)  # [B, L, d]
        query = target[:, None, :].expand_as(hist)
        weight = self.attention(torch.cat([hist, query, hist - query, hist * query], -1)).squeeze(-1)
        interest = ((weight * mask)[..., None] * hist).sum(1)  # eq. 3, unnormalised
        user = self.user_emb(batch["user"])
        logit = self.output(torch.cat([user, interest, target, interest * target], -1)).squeeze(-1)
        used = user.pow(2).sum() + target.pow(2).sum() + (hist.pow(2).sum(-1) * mask).sum()
        return logit, used / batch["user"].numel()
