"""LayerGCN: layer-refined graph convolutional networks for recommendation (Zhou et al., ICDE 2023).

- Layer refinement: x^(0) = e (the ego table, users then items); for l = 1..L
      x^(l) = a^(l) ⊙ (Â x^(l−1)),   a_v^(l) = cos((Â x^(l−1))_v, e_v),
  each node's propagated vector is rescaled by its cosine similarity to its own ego embedding, and the refined
  vector feeds the next layer. Readout: h = Σ_{l=1..L} x^(l) (the ego layer is not summed).
- Degree-sensitive edge dropout: before every training epoch keep ⌊(1 − ρ)|E|⌋ user–item edges, sampled without
  replacement with probability ∝ 1/sqrt(d_u d_i), and renormalise the kept graph symmetrically; evaluation uses
  the full Â = D^-1/2 A D^-1/2.
- Score s(u, i) = ⟨h_u, h_i⟩; loss BPR + λ · ½ Σ (‖e_u‖² + ‖e_i‖² + ‖e_j‖²) on the batch's ego rows.

Deviations: the official code (MMRec ``models/layergcn.py``, by the authors) alternates the pruning: odd
epochs degree-sensitive, even epochs uniform at random; ``alternate_uniform`` (default true, as the official
code) keeps that, false prunes degree-sensitively every epoch. It sums BPR and the regulariser over the batch;
here both are divided by the batch size (the same gradients up to one factor per step, which Adam removes).
"""

from __future__ import annotations

import torch
from torch import nn

from graphrec.graphs.sparse import SparseGraph
from graphrec.errors import ConfigError
from graphrec.graphs.store import GraphSpec
from graphrec.losses import bpr_loss, l2_regularization, pairwise_scores
from graphrec.models.base import Recommender
from graphrec.models.layers.edge_dropout import PrunedTrainingGraph, prune_edges
from graphrec.models.layers.l2norm import l2_normalize


def layer_refined_propagation(graph: SparseGraph, ego: torch.Tensor, n_layers: int) -> torch.Tensor:
    """Σ_{l=1..L} x^(l) with x^(l) = cos(Â x^(l−1), e) ⊙ Â x^(l−1), x^(0) = e. The cosine is the row product of
    unit vectors (``l2_normalize``, e's once): 2–3x faster forward + backward than ``F.cosine_similarity``."""
    x, total, ego_unit = ego, torch.zeros_like(ego), l2_normalize(ego)
    for _ in range(n_layers):
        x = graph @ x
        x = (l2_normalize(x) * ego_unit).sum(1, keepdim=True) * x
        total = total + x
    return total


class LayerGCN(PrunedTrainingGraph, Recommender):
    def __init__(self, n_users: int, n_items: int, embedding_dim: int = 64, n_layers: int = 4,
                 dropout: float = 0.1, reg_weight: float = 1e-3, alternate_uniform: bool = True):
        super().__init__(n_users, n_items)
        if not 0.0 <= dropout < 1.0:
            raise ConfigError(f"model.dropout: ρ, the fraction of edges pruned, must lie in [0, 1), got {dropout}")
        self.embedding = nn.Parameter(torch.empty(n_users + n_items, embedding_dim))
        nn.init.xavier_uniform_(self.embedding[:n_users])
        nn.init.xavier_uniform_(self.embedding[n_users:])
        self.n_layers, self.dropout, self.reg_weight = int(n_layers), float(dropout), float(reg_weight)
        self.alternate_uniform = bool(alternate_uniform)

    def graph_specs(self) -> dict[str, GraphSpec]:
        return {"adj": GraphSpec("bipartite", {"norm": "symmetric"})}

    def prune(self, epoch: int) -> SparseGraph | None:
        if self.dropout <= 0:
            return None
        uniform = self.alternate_uniform and epoch % 2 == 0
        return prune_edges(self.graphs["adj"], self.n_users, 1.0 - self.dropout, degree_sensitive=not uniform)

    def node_embeddings(self, rows: torch.Tensor | None = None) -> torch.Tensor:
        adj = self.propagation_graph()
        out = layer_refined_propagation(adj, self.embedding, self.n_layers)
        return out if rows is None else out[rows]

    def loss(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        u, i, j = self.batch_embeddings(batch)
        reg = l2_regularization(self.embedding[self.pairwise_node_rows(batch)], batch_size=batch["user"].shape[0])
        return {"bpr": bpr_loss(*pairwise_scores(u, i, j)), "reg": self.reg_weight * reg}
