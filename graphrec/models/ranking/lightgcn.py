"""LightGCN (He et al., SIGIR 2020).

Implements eq. 7 (light graph convolution on the normalised bipartite graph, Â = D^-1/2 A D^-1/2, no feature
transform, no non-linearity), eq. 8 (layer combination e = Σ_k α_k e^(k) with α_k = 1/(K+1)), eq. 10
(s_ui = ⟨e_u, e_i⟩) and eq. 15 (BPR + λ‖E^(0)‖² on the batch's ego embeddings).
Choices: Xavier-uniform init as in RecBole and MMRec by default (``init_std=0.1`` gives the paper's N(0, 0.1)); the regulariser is averaged
over the batch (½ Σ‖e^(0)‖² / B), as in the official code.
"""

from __future__ import annotations

import torch
from torch import nn

from graphrec.graphs.sparse import SparseGraph
from graphrec.graphs.store import GraphSpec
from graphrec.losses import bpr_loss, l2_regularization, pairwise_scores
from graphrec.models.base import Recommender


def light_propagation(graph: SparseGraph, x: torch.Tensor, n_layers: int) -> torch.Tensor:
    """eq. 7–8 with α_k = 1/(K+1): (1/(K+1)) Σ_{k=0..K} Â^k x (Horner's rule in ``SparseGraph.power_sum``)."""
    return graph.power_sum(x, n_layers) * (1.0 / (n_layers + 1))


class LightGCN(Recommender):
    def __init__(self, n_users: int, n_items: int, embedding_dim: int = 64, n_layers: int = 3,
                 reg_weight: float = 1e-4, init_std: float | None = None):
        super().__init__(n_users, n_items)
        # one table for users then items: the propagation input needs no concatenation per batch
        self.embedding = nn.Parameter(torch.empty(n_users + n_items, embedding_dim))
        if init_std is None:  # Xavier-uniform per table, as RecBole and MMRec
            nn.init.xavier_uniform_(self.embedding[:n_users])
            nn.init.xavier_uniform_(self.embedding[n_users:])
        else:  # N(0, init_std²), as the paper (0.1)
            nn.init.normal_(self.embedding, std=init_std)
        self.n_layers, self.reg_weight = n_layers, reg_weight

    def graph_specs(self) -> dict[str, GraphSpec]:
        return {"adj": GraphSpec("bipartite", {"norm": "symmetric"})}

    def ego_embeddings(self) -> torch.Tensor:
        """E^(0), users then items; where the table lives is this method's business (``graphrec.training.sharded_tables``
        looks it up in TorchRec shards)."""
        return self.embedding

    def item_id_embeddings(self) -> torch.Tensor:
        return self.ego_embeddings()[self.n_users:]

    def embeddings(self) -> tuple[torch.Tensor, torch.Tensor]:
        out = light_propagation(self.graphs["adj"], self.ego_embeddings(), self.n_layers)
        return out[: self.n_users], out[self.n_users:]

    def loss(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        # one gather per table for the whole batch (users, positives, negatives), and α_k = 1/(K+1) applied to
        # the gathered rows only: two full-table passes fewer per step than gathering from scaled user/item views
        rows, ego = self.pairwise_node_rows(batch), self.ego_embeddings()
        final = self.graphs["adj"].power_sum(ego, self.n_layers)[rows] * (1.0 / (self.n_layers + 1))
        pos, neg = pairwise_scores(*self.split_pairwise_rows(final, batch))
        reg = l2_regularization(ego[rows], batch_size=batch["user"].shape[0])
        return {"bpr": bpr_loss(pos, neg), "reg": self.reg_weight * reg}
