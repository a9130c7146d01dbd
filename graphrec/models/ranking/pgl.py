"""PGL: Mind Individual Information! Principal Graph Learning for Multimedia Recommendation (Yu et al., AAAI 2025).

As MMRec's ``pgl.py`` (e775373, ported from the authors' demonph10/PGL) implements it:
- items are content only: ẽ_i = ‖_m ℓ2-normalise(W_m x_i^m + b_m) (no item ID table; raw features trainable, as
  the official code), users an ID table per modality, concatenated (dimension M·d);
- principal subgraph message passing: in training, LightGCN (layer mean, L = ``n_ui_layers``) runs over a
  principal subgraph of the user–item graph; at evaluation over the full graph. ``mode='local'`` (the local-aware
  extraction, MMRec's default): before every epoch keep ``keep_rate`` = 30% of the edges, sampled without
  replacement ∝ 1/sqrt(d_u d_i), renormalised (the graph layer's ``prune_edges``);
- a frozen item–item kNN graph (k = 10, FREEDOM's: raw features, self included, binary, a_ij / sqrt(r_i r_j);
  visual weight 0.1), h_i = S^{L_mm} ẽ_i added to the item side: s_ui = ⟨e_u, ē_i + h_i⟩;
- loss: BPR + λ · ½(InfoNCE(drop(e_u), drop(e_u)) + InfoNCE(drop(ē_i⁺), drop(ē_i⁺))) with two independent dropout
  masks (p = ``dropout``) and τ = 0.2, the latent self-supervision; MMRec's config sets λ = 0 (off).
TikTok has no text: the second modality is acoustic.

Deviations: the global-aware extraction (``mode='global'``: a truncated SVD of the normalised adjacency,
reconstructed densely as an (U+I) × (U+I) matrix and thresholded at 1e-3) is not offered: that matrix is dense
at full size, which this project does not build; MMRec's config does not use it either. MMRec issue #58 questions
whether the published figures reproduce; benchmarks/README.md reports what ran here.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from graphrec.errors import ConfigError
from graphrec.graphs.sparse import SparseGraph
from graphrec.graphs.store import GraphSpec
from graphrec.losses import bpr_loss, info_nce, pairwise_scores
from graphrec.models.base import Recommender
from graphrec.models.layers.edge_dropout import PrunedTrainingGraph, prune_edges
from graphrec.models.layers.itemgraph import FrozenItemGraph, ModalityProjections
from graphrec.models.ranking.lightgcn import light_propagation


class PGL(PrunedTrainingGraph, Recommender):
    def __init__(self, n_users: int, n_items: int, features: dict[str, torch.Tensor], embedding_dim: int = 64,
                 mode: str = "local", keep_rate: float = 0.3, n_ui_layers: int = 2, n_mm_layers: int = 1,
                 knn_k: int = 10, image_weight: float = 0.1, cl_weight: float = 0.0, dropout: float = 0.2,
                 temperature: float = 0.2, tune_features: bool = True):
        super().__init__(n_users, n_items)
        if mode != "local":
            raise ConfigError(f"model.mode: only 'local' (local-aware principal subgraphs) is implemented, got {mode!r}"
                              " ('global' reconstructs a dense (users + items)² matrix; see the module docstring)")
        if not 0.0 < keep_rate <= 1.0:
            raise ConfigError(f"model.keep_rate is the fraction of edges kept each epoch: 0 < r ≤ 1, got {keep_rate}")
        self.register_features(features)
        self.user_embedding = nn.Parameter(torch.empty(n_users, len(self.modalities) * embedding_dim))
        for k in range(len(self.modalities)):  # one Xavier-uniform table per modality, as the official code
            nn.init.xavier_uniform_(self.user_embedding[:, k * embedding_dim:(k + 1) * embedding_dim])
        self.content = ModalityProjections(features, embedding_dim, tune_features, init=None)
        self.frozen = FrozenItemGraph(self.modalities, knn_k, image_weight)
        self.keep_rate, self.n_ui_layers, self.n_mm_layers = float(keep_rate), int(n_ui_layers), int(n_mm_layers)
        self.knn_k, self.cl_weight, self.temperature = int(knn_k), float(cl_weight), float(temperature)
        self.dropout = nn.Dropout(dropout)

    def graph_specs(self) -> dict[str, GraphSpec]:
        specs = {"adj": GraphSpec("bipartite", {"norm": "symmetric"})}
        specs.update(self.frozen.specs())
        return specs

    def attach_graphs(self, graphs: dict[str, SparseGraph]) -> None:
        super().attach_graphs(graphs)
        self.item_graph = self.frozen.build(graphs)

    def prune(self, epoch: int) -> SparseGraph | None:
        return prune_edges(self.graphs["adj"], self.n_users, self.keep_rate)

    def embeddings(self) -> tuple[torch.Tensor, torch.Tensor]:
        adj = self.propagation_graph()
        items = torch.cat([F.normalize(self.content(m), dim=1) for m in self.modalities], dim=1)
        h = items
        for _ in range(self.n_mm_layers):
            h = self.item_graph @ h
        out = light_propagation(adj, torch.cat([self.user_embedding, items]), self.n_ui_layers)
        return out[: self.n_users], out[self.n_users:] + h

    def loss(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        u, i, j = self.batch_embeddings(batch)
        terms = {"bpr": bpr_loss(*pairwise_scores(u, i, j))}
        if self.cl_weight > 0:
            d, tau = self.dropout, self.temperature
            terms["ssl"] = self.cl_weight * 0.5 * (info_nce(d(u), d(u), tau) + info_nce(d(i), d(i), tau))
        return terms
