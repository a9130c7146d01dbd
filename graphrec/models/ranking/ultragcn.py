"""UltraGCN: ultra-simplified graph convolution, trained with constraint losses (Mao et al., CIKM 2021).

No message passing: users and items are free embeddings scored by ⟨e_u, e_i⟩, trained with
- L_O (eq. 10, with the β weighting of eq. 7): Σ_(u,i) −(w1 + w2 β_ui) log σ(e_u·e_i)
  − negative_weight · mean_{j∈N⁻} (w3 + w4 β_uj) log σ(−e_u·e_j),  β_ui = (1/d_u) sqrt((d_u + 1)/(d_i + 1));
- L_I (eq. 13): Σ_(u,i) Σ_{j∈S(i)} −ω_ij log σ(e_u·e_j) over the top-k item neighbours S(i) of the
  constraint graph (eq. 12, ``graphrec.graphs.constraint``);
- γ/2 Σ‖θ‖² over all parameters; total L = L_O + γ·‖θ‖²/2 + λ L_I (eq. 15). Sums over the batch, as the
  official code.
Defaults are the official Amazon-Books configuration (w1 = 1e-8, w2 = 1, w3 = 1, w4 = 1e-8, γ = 1e-4, k = 10,
N(0, 1e-4²) initialisation) with two changes: λ = 1e-3 (the official MovieLens-1M value) instead of 2.75, chosen
on TikTok validation (R@20 0.091 against 0.047 at 2.75; the MovieLens-1M weights w1..w4 with 200 negatives gave
0.066), and ``negative_num = negative_weight = 50`` instead of 500, ten times cheaper per epoch on CPU (500 was
not tried). Deviations from the official code:
negatives never include a training positive of the user (its ``sampling_sift_pos`` is off by default), and ω
follows the paper's eq. 12 (the code uses the smoothed sqrt(g_i + 1)/g_i · 1/sqrt(g_j + 1)).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from graphrec.graphs.sparse import SparseGraph, padded_rows
from graphrec.graphs.store import GraphSpec
from graphrec.models.base import Recommender


class UltraGCN(Recommender):
    def __init__(self, n_users: int, n_items: int, embedding_dim: int = 64, w1: float = 1e-8, w2: float = 1.0,
                 w3: float = 1.0, w4: float = 1e-8, negative_num: int = 50, negative_weight: float = 50.0,
                 gamma: float = 1e-4, lambda_item: float = 1e-3, item_neighbours: int = 10,
                 init_std: float = 1e-4):
        super().__init__(n_users, n_items)
        self.user_emb = nn.Parameter(torch.randn(n_users, embedding_dim) * init_std)
        self.item_emb = nn.Parameter(torch.randn(n_items, embedding_dim) * init_std)
        self.w1, self.w2, self.w3, self.w4 = w1, w2, w3, w4
        self.n_negatives, self.negative_weight = int(negative_num), negative_weight
        self.gamma, self.lambda_item, self.item_neighbours = gamma, lambda_item, int(item_neighbours)
        for name in ("beta_user", "beta_item", "neighbours", "neighbour_weight"):
            self.register_buffer(name, torch.zeros(0), persistent=False)

    def graph_specs(self) -> dict[str, GraphSpec]:
        return {"interactions": GraphSpec("bipartite", {"norm": "none"}),
                "item_constraint": GraphSpec("item_constraint", {"k": self.item_neighbours})}

    def attach_graphs(self, graphs: dict[str, SparseGraph]) -> None:
        super().attach_graphs(graphs)
        degree = graphs["interactions"].degree(1)
        d_user, d_item = degree[: self.n_users].clamp(min=1), degree[self.n_users:]
        self.beta_user = (d_user + 1).sqrt() / d_user  # β_ui = beta_user[u] · beta_item[i]
        self.beta_item = (d_item + 1).rsqrt()
        self.neighbours, self.neighbour_weight = padded_rows(graphs["item_constraint"], self.item_neighbours)

    def embeddings(self) -> tuple[torch.Tensor, torch.Tensor]:
        return self.user_emb, self.item_emb

    def loss(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        users, pos, neg = batch["user"], batch["pos"], batch["neg"]
        neg = neg.unsqueeze(1) if neg.dim() == 1 else neg
        u = self.user_emb[users]
        pos_scores = (u * self.item_emb[pos]).sum(-1)
        neg_scores = (u.unsqueeze(1) * self.item_emb[neg]).sum(-1)
        beta_u = self.beta_user[users]
        pos_weight = self.w1 + self.w2 * beta_u * self.beta_item[pos]
        neg_weight = self.w3 + self.w4 * beta_u.unsqueeze(1) * self.beta_item[neg]
        l_o = (pos_weight * F.softplus(-pos_scores)).sum() + \
            self.negative_weight * (neg_weight * F.softplus(neg_scores)).mean(1).sum()
        neighbour_scores = (u.unsqueeze(1) * self.item_emb[self.neighbours[pos]]).sum(-1)
        l_i = (self.neighbour_weight[pos] * F.softplus(-neighbour_scores)).sum()
        norm = (self.user_emb.pow(2).sum() + self.item_emb.pow(2).sum()) / 2
        return {"ultra": l_o, "item": self.lambda_item * l_i, "reg": self.gamma * norm}
