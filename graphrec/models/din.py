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

from graphrec.losses import bce_loss
from graphrec.models.base import Recommender


def mlp(sizes: Sequence[int]) -> nn.Sequential:
    """Linear → PReLU between every pair of sizes, no activation after the last layer."""
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(nn.PReLU())  # one slope per layer (per-channel PReLU expects channels at dim 1)
    return nn.Sequential(*layers)


class DIN(Recommender):
    task = "ctr"
    sampling = "pointwise"

    def __init__(self, n_users: int, n_items: int, features: dict[str, torch.Tensor] | None = None,
                 embedding_dim: int = 32, attention_hidden: Sequence[int] = (80, 40),
                 hidden: Sequence[int] = (200, 80), use_features: bool = True, reg_weight: float = 1e-4):
        super().__init__(n_users, n_items)
        d = int(embedding_dim)
        self.user_emb = nn.Embedding(n_users, d)
        self.item_emb = nn.Embedding(n_items + 1, d, padding_idx=n_items)  # row n_items: history padding
        nn.init.normal_(self.user_emb.weight, std=0.01)
        nn.init.normal_(self.item_emb.weight, std=0.01)
        with torch.no_grad():
            self.item_emb.weight[n_items].zero_()
        self.content = None
        if use_features and features:
            self.register_features(features)
            x = torch.cat([self.feature(m) for m in self.modalities], 1)
            x = (x - x.mean(0)) / x.std(0).clamp_min(1e-6)
            self.register_buffer("content_input", torch.cat([x, x.new_zeros(1, x.shape[1])]), persistent=False)
            self.content = nn.Linear(x.shape[1], d, bias=False)
        self.attention = mlp([4 * d, *attention_hidden, 1])
        self.output = mlp([4 * d, *hidden, 1])
        self.reg_weight = float(reg_weight)

    def item_vectors(self, items: torch.Tensor) -> torch.Tensor:
        """v_i = E_i (+ W x_i with features); the padding index gives the zero vector."""
        v = self.item_emb(items)
        if self.content is not None:
            v = v + self.content(self.content_input[items])
        return v

    def forward(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        target = self.item_vectors(batch["item"])  # [B, d]
        history = self.item_vectors(batch["pos_items"])  # [B, L, d]
        mask = torch.arange(history.shape[1], device=history.device)[None, :] < batch["pos_lengths"][:, None]
        query = target[:, None, :].expand_as(history)
        weight = self.attention(torch.cat([history, query, history - query, history * query], -1)).squeeze(-1)
        interest = ((weight * mask)[..., None] * history).sum(1)  # eq. 3, unnormalised
        user = self.user_emb(batch["user"])
        logit = self.output(torch.cat([user, interest, target, interest * target], -1)).squeeze(-1)
        used = user.pow(2).sum() + target.pow(2).sum() + (history.pow(2).sum(-1) * mask).sum()
        return logit, used / batch["user"].numel()

    def predict(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        return self.forward(batch)[0]

    def loss(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        logit, used = self.forward(batch)
        return {"log": bce_loss(logit, batch["label"]), "reg": 0.5 * self.reg_weight * used}
