"""FREEDOM: freezing and denoising graph structures for multimodal recommendation (Zhou & Shen, MM 2023).

- Frozen item–item graph (§3.1, eq. 1–4): per modality a kNN graph (k = 10) from the raw features, binary and
  normalised by row sums as S = D^-1/2 A D^-1/2, summed with modality weights (visual ``image_weight`` = 0.1,
  the rest shared by the other modalities, as the paper weights image and text); built once, never updated.
- Degree-sensitive edge pruning (§3.2, eq. 5–6): before every epoch, keep ⌊(1 − ρ)|E|⌋ user–item edges sampled
  without replacement with probability ∝ 1/sqrt(d_u d_i), then renormalise the kept graph symmetrically.
  Evaluation uses the full graph.
- Item representation h_i = S^{L_mm} e_i (one layer) added to the LightGCN output of the (pruned) user–item graph
  (eq. 7–8, two layers, layer mean); s_ui = ⟨e_u, ē_i + h_i⟩ (eq. 9).
- Loss (eq. 10): BPR on the fused scores + λ Σ_m BPR(e_u, W_m x_i, W_m x_j) with W_m a linear map of the
  modality's features to the embedding size.
As in the official code the raw features used by W_m are trainable (``tune_features``); the kNN graph is built
from their initial values. The official top-k includes the item itself (k − 1 other neighbours and a self-loop);
so does this one.
"""

from __future__ import annotations

import torch
from torch import nn

from graphrec.graphs.sparse import SparseGraph
from graphrec.graphs.store import GraphSpec
from graphrec.losses import bpr_loss, pairwise_scores
from graphrec.models.base import Recommender
from graphrec.models.layers.edge_dropout import PrunedTrainingGraph, prune_edges
from graphrec.models.layers.itemgraph import FrozenItemGraph, ModalityProjections
from graphrec.models.ranking.lightgcn import light_propagation


class FREEDOM(PrunedTrainingGraph, Recommender):
    def __init__(self, n_users: int, n_items: int, features: dict[str, torch.Tensor], embedding_dim: int = 64,
                 knn_k: int = 10, image_weight: float = 0.1, n_mm_layers: int = 1, n_ui_layers: int = 2,
                 dropout: float = 0.8, reg_weight: float = 0.0, tune_features: bool = True):
        super().__init__(n_users, n_items)
        self.register_features(features)
        self.embedding = nn.Parameter(nn.init.xavier_uniform_(torch.empty(n_users + n_items, embedding_dim)))
        self.content = ModalityProjections(features, embedding_dim, tune_features, init=nn.init.xavier_normal_)
        self.knn_k, self.frozen = int(knn_k), FrozenItemGraph(self.modalities, knn_k, image_weight)
        self.n_mm_layers, self.n_ui_layers = int(n_mm_layers), int(n_ui_layers)
        self.dropout, self.reg_weight = float(dropout), reg_weight

    def graph_specs(self) -> dict[str, GraphSpec]:
        specs = {"adj": GraphSpec("bipartite", {"norm": "symmetric"})}
        specs.update(self.frozen.specs())
        return specs

    def attach_graphs(self, graphs: dict[str, SparseGraph]) -> None:
        super().attach_graphs(graphs)
        self.item_graph = self.frozen.build(graphs)

    def prune(self, epoch: int) -> SparseGraph | None:
        return prune_edges(self.graphs["adj"], self.n_users, 1.0 - self.dropout) if self.dropout > 0 else None

    def embeddings(self) -> tuple[torch.Tensor, torch.Tensor]:
        adj = self.propagation_graph()
        h = self.embedding[self.n_users:]
        for _ in range(self.n_mm_layers):
            h = self.item_graph @ h
        out = light_propagation(adj, self.embedding, self.n_ui_layers)
        return out[: self.n_users], out[self.n_users:] + h

    def loss(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        u, i, j = self.batch_embeddings(batch)
        terms = {"bpr": bpr_loss(*pairwise_scores(u, i, j))}
        if self.reg_weight > 0:
            modal = 0.0
            for m in self.modalities:
                f = self.content(m)
                modal = modal + bpr_loss(*pairwise_scores(u, f[batch["pos"]], f[batch["neg"]]))
            terms["modality_bpr"] = self.reg_weight * modal
        return terms
