"""LATTICE: mining latent structures for multimedia recommendation (Zhang et al., MM 2021).

- Initial graphs (eq. 1–2): per modality, the kNN graph of raw-feature cosine similarities (k = 10, values kept),
  normalised Ã = D^-1/2 A D^-1/2 (row sums, as the official code).
- Learned graphs (eq. 3–5): per modality the same construction on learned projections W_m x_i; the modalities
  are combined with softmax-normalised learnable weights α_m, both for learned and for initial graphs (eq. 6),
  and the learned combination is normalised again.
- Mixed graph (eq. 5): A = (1 − λ)·Â_learned + λ·Ã_initial, λ = 0.9 (``lambda_coeff``).
- Item graph convolution (eq. 7): h = A^L e (one layer) on the item ID embeddings; fused with a 2-layer LightGCN
  on the user–item graph as ê_i = e_i^CF + h/‖h‖ (eq. 8–9); BPR with λ/2 Σ‖·‖²/B on the batch's final
  embeddings (eq. 10).
Sparse throughout: the top-k of every similarity row comes from tiled blocks (``graphrec.graphs.topk``), never
a dense items × items matrix (the official code keeps dense N×N matrices and rebuilds them every epoch).
Choice: the learned neighbour sets are re-selected once per epoch (as the official code re-builds once per
epoch) while the learned edge weights w_ij = cos(W_m x_i, W_m x_j) stay differentiable in every batch (the
official code detaches the graph after the first batch of each epoch); in evaluation they are selected from the
current weights, so a checkpoint's scores depend on its weights alone. As in the official code, the raw
features fed to W_m are trainable (``tune_features``).
"""

from __future__ import annotations

import torch
from torch import nn

from graphrec.graphs.knn import learned_knn_graph
from graphrec.graphs.normalize import row_symmetric
from graphrec.graphs.sparse import SparseGraph, edge_dot, weighted_sum
from graphrec.graphs.store import GraphSpec
from graphrec.losses import bpr_loss, l2_regularization, pairwise_scores
from graphrec.models.base import Recommender
from graphrec.models.layers.itemgraph import ModalityProjections, modality_knn_spec
from graphrec.models.layers.l2norm import l2_normalize
from graphrec.models.ranking.lightgcn import light_propagation


class LATTICE(Recommender):
    def __init__(self, n_users: int, n_items: int, features: dict[str, torch.Tensor], embedding_dim: int = 64,
                 feat_embed_dim: int = 64, knn_k: int = 10, lambda_coeff: float = 0.9, n_item_layers: int = 1,
                 n_ui_layers: int = 2, reg_weight: float = 0.0, tune_features: bool = True):
        super().__init__(n_users, n_items)
        self.register_features(features)
        self.embedding = nn.Parameter(nn.init.xavier_uniform_(torch.empty(n_users + n_items, embedding_dim)))
        self.content = ModalityProjections(features, feat_embed_dim, tune_features)
        self.modal_weight = nn.Parameter(torch.full((len(self.modalities),), 1.0 / len(self.modalities)))
        self.knn_k, self.lambda_coeff = int(knn_k), float(lambda_coeff)
        self.n_item_layers, self.n_ui_layers, self.reg_weight = int(n_item_layers), int(n_ui_layers), reg_weight
        self._learned_structure: dict[str, SparseGraph] = {}

    def graph_specs(self) -> dict[str, GraphSpec]:
        specs = {"adj": GraphSpec("bipartite", {"norm": "symmetric"})}
        specs.update({f"knn_{m}": modality_knn_spec(m, self.knn_k, binary=False) for m in self.modalities})
        return specs

    def attach_graphs(self, graphs: dict[str, SparseGraph]) -> None:
        super().attach_graphs(graphs)
        self._learned_structure = {}

    def _projected(self, m: str) -> torch.Tensor:
        return l2_normalize(self.content(m))

    def pre_epoch(self, epoch: int) -> None:
        self._learned_structure = {}  # neighbours re-selected from the current projections

    def learned_graph(self, m: str) -> SparseGraph:
        """Top-k cosine graph of the projected features (structure fixed for the epoch, weights with grad)."""
        z = self._projected(m)
        if not self.training:  # evaluation depends on the weights alone (e.g. a reloaded best checkpoint)
            return learned_knn_graph(z, self.knn_k, include_self=True)
        if m not in self._learned_structure:
            self._learned_structure[m] = learned_knn_graph(z, self.knn_k, include_self=True)
        structure = self._learned_structure[m]
        return structure.with_values(edge_dot(structure, z, z))

    def item_graph(self) -> SparseGraph:
        """A = (1 − λ) norm(Σ_m α_m learned_m) + λ Σ_m α_m initial_m."""
        alpha = torch.softmax(self.modal_weight, dim=0)
        learned = row_symmetric(weighted_sum([self.learned_graph(m) for m in self.modalities], list(alpha)))
        initial = weighted_sum([self.graphs[f"knn_{m}"] for m in self.modalities], list(alpha))
        return weighted_sum([learned, initial], [1.0 - self.lambda_coeff, self.lambda_coeff])

    def embeddings(self) -> tuple[torch.Tensor, torch.Tensor]:
        item_graph = self.item_graph()
        h = self.embedding[self.n_users:]
        for _ in range(self.n_item_layers):
            h = item_graph @ h
        out = light_propagation(self.graphs["adj"], self.embedding, self.n_ui_layers)
        return out[: self.n_users], out[self.n_users:] + l2_normalize(h)

    def loss(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        u, i, j = self.batch_embeddings(batch)
        terms = {"bpr": bpr_loss(*pairwise_scores(u, i, j))}
        if self.reg_weight > 0:
            terms["reg"] = self.reg_weight * l2_regularization(u, i, j, batch_size=u.shape[0])
        return terms
