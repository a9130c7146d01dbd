"""SelfCF_ed with a LightGCN encoder (Zhou et al., TORS 2023; MMRec's ``SELFCFED_LGN``).

Self-supervised collaborative filtering with no negatives (``sampling = "positive"``):

- Online encoder: LightGCN (layer mean over l = 0..L) on an augmented adjacency: every training step draws a
  rate r ~ U[0, r_max) and drops each stored entry of Â = D^-1/2 A D^-1/2 with probability r, scaling the rest by
  1/(1 − r) (the encoder SelfCF takes from BUIR). Evaluation uses the full Â.
- Target view by embedding dropout ("ed"): ĥ = sg(dropout_p(h)) of the online outputs of the batch's users and
  items.
- Predictor f_p(h) = h W + b; loss ½ C(f_p(h_u), ĥ_i) + ½ C(f_p(h_i), ĥ_u) + λ · ½ (‖h_u‖² + ‖h_i‖²) summed over the
  batch's pairs, with C(a, b) = 1 − cos(a, sg(b)) (the official −cos, shifted by a constant).
- Score: s(u, i) = ⟨f_p(h_u), h_i⟩ + ⟨h_u, f_p(h_i)⟩ on the full graph; ``embeddings()`` returns
  [f_p(h_u) ‖ h_u] and [h_i ‖ f_p(h_i)], so the sum is one inner product.

Deviations: none in the maths. The official encoder rebuilds a sparse tensor without the dropped entries each
step; here the structure is kept with zeros in their place (the same products, no re-sort). The regulariser
acts, as in the official code, on the propagated embeddings of the batch (not the ego table), unaveraged.
"""

from __future__ import annotations

import torch
from torch import nn

from graphrec.errors import ConfigError
from graphrec.graphs.store import GraphSpec
from graphrec.models.base import Recommender
from graphrec.models.layers.bootstrap import cosine_distance, dropout_view
from graphrec.models.layers.edge_dropout import dropout_entries
from graphrec.models.ranking.lightgcn import light_propagation


class SelfCF(Recommender):
    sampling = "positive"

    def __init__(self, n_users: int, n_items: int, embedding_dim: int = 64, n_layers: int = 2,
                 dropout: float = 0.1, reg_weight: float = 1e-4, edge_dropout_max: float = 1.0):
        super().__init__(n_users, n_items)
        if not 0.0 <= edge_dropout_max <= 1.0:
            raise ConfigError(f"model.edge_dropout_max: must lie in [0, 1], got {edge_dropout_max}")
        self.embedding = nn.Parameter(torch.empty(n_users + n_items, embedding_dim))
        nn.init.xavier_uniform_(self.embedding[:n_users])
        nn.init.xavier_uniform_(self.embedding[n_users:])
        self.predictor = nn.Linear(embedding_dim, embedding_dim)
        self.n_layers, self.dropout = int(n_layers), float(dropout)
        self.reg_weight, self.edge_dropout_max = float(reg_weight), float(edge_dropout_max)

    def graph_specs(self) -> dict[str, GraphSpec]:
        return {"adj": GraphSpec("bipartite", {"norm": "symmetric"})}

    def encode(self, edge_rate: float = 0.0) -> torch.Tensor:
        """LightGCN layer mean, users then items, on Â with entries dropped at ``edge_rate``."""
        graph = dropout_entries(self.graphs["adj"], edge_rate)
        return light_propagation(graph, self.embedding, self.n_layers)

    def embeddings(self) -> tuple[torch.Tensor, torch.Tensor]:
        out = self.encode()
        users, items = out[: self.n_users], out[self.n_users:]
        return (torch.cat([self.predictor(users), users], dim=1),
                torch.cat([items, self.predictor(items)], dim=1))

    def loss(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        rate = float(torch.rand(())) * self.edge_dropout_max
        out = self.encode(rate)
        h_u, h_i = out[batch["user"]], out[batch["pos"] + self.n_users]
        target_u, target_i = dropout_view(h_u, self.dropout), dropout_view(h_i, self.dropout)
        ssl = 0.5 * cosine_distance(self.predictor(h_u), target_i) + 0.5 * cosine_distance(self.predictor(h_i), target_u)
        reg = 0.5 * (h_u.pow(2).sum() + h_i.pow(2).sum())
        return {"ssl": ssl, "reg": self.reg_weight * reg}
