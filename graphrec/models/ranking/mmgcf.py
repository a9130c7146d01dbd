"""MMGCF: Multimodal Graph Collaborative Filtering (MMRec's newest model, ``src/models/mmgcf.py`` at e775373).

The model has no paper: its docstring cites none and describes it as "late fusion of LightGCN ID embeddings with
multimodal item features, adapted for the MMRec framework". What it computes, and so this module:
- LightGCN on the user–item graph (layer mean over L = ``n_ui_layers`` layers): (e_u, ē_i);
- modality content f_i^m = W_m x_i^m + b_m from frozen features;
- late fusion of the item side only (users keep e_u), by ``weighting``:
  ``equal``: f_i = F(f_i^1, …, f_i^M), then ẽ_i = F(ē_i, f_i);
  ``alpha``: ẽ_i = F(α ē_i, (1 − α) f_i^1, …, (1 − α) f_i^M) with α = σ(a), a learned (0 at start);
  ``normalized``: ẽ_i = F(M · ē_i/‖ē_i‖, f_i^1/‖f_i^1‖, …);
  where F is ``fusion``: ``mean``, ``sum`` or ``concat`` (concatenate, then a linear map back to d; each step
  its own layer);
- degree-sensitive edge dropout before every epoch (keep ⌊(1 − ρ)|E|⌋ edges sampled ∝ 1/sqrt(d_u d_i), renormalise;
  the graph layer's ``prune_edges``), the full graph at evaluation;
- s_ui = ⟨e_u, ẽ_i⟩, loss BPR + λ ½(‖e_u⁰‖² + ‖e_i⁰‖² + ‖e_j⁰‖²)/B on the ego embeddings.
TikTok has no text: the second modality is acoustic.

Deviations: none in the maths. MMRec grid-searches 324 combinations of (layers, λ, fusion, weighting, ρ) and
ships no single default; the defaults here (2 layers, λ = 1e-3, mean, equal, ρ = 0.5) are the middle of that
grid, and the preset is chosen on TikTok validation.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from graphrec.errors import ConfigError
from graphrec.graphs.sparse import SparseGraph
from graphrec.graphs.store import GraphSpec
from graphrec.losses import bpr_loss, l2_regularization, pairwise_scores
from graphrec.models.base import Recommender
from graphrec.models.layers.edge_dropout import PrunedTrainingGraph, prune_edges
from graphrec.models.layers.itemgraph import ModalityProjections
from graphrec.models.ranking.lightgcn import light_propagation

FUSIONS, WEIGHTINGS = ("mean", "sum", "concat"), ("equal", "alpha", "normalized")


class MMGCF(PrunedTrainingGraph, Recommender):
    def __init__(self, n_users: int, n_items: int, features: dict[str, torch.Tensor], embedding_dim: int = 64,
                 n_ui_layers: int = 2, reg_weight: float = 1e-3, fusion: str = "mean", weighting: str = "equal",
                 dropout: float = 0.5):
        super().__init__(n_users, n_items)
        if fusion not in FUSIONS:
            raise ConfigError(f"model.fusion must be one of {', '.join(FUSIONS)}, got {fusion!r}")
        if weighting not in WEIGHTINGS:
            raise ConfigError(f"model.weighting must be one of {', '.join(WEIGHTINGS)}, got {weighting!r}")
        if not 0.0 <= dropout < 1.0:
            raise ConfigError(f"model.dropout is the fraction of edges dropped each epoch: 0 ≤ ρ < 1, got {dropout}")
        self.register_features(features)
        self.embedding = nn.Parameter(torch.empty(n_users + n_items, embedding_dim))
        nn.init.xavier_uniform_(self.embedding[:n_users])
        nn.init.xavier_uniform_(self.embedding[n_users:])
        self.content = ModalityProjections(features, embedding_dim, tune=False, init=None)
        self.n_ui_layers, self.reg_weight = int(n_ui_layers), float(reg_weight)
        self.fusion, self.weighting, self.dropout = fusion, weighting, float(dropout)
        n_mod, d = len(self.modalities), embedding_dim
        if weighting == "alpha":
            self.alpha_logit = nn.Parameter(torch.zeros(()))
        if fusion == "concat":  # one linear map per concatenation step, as the official code
            if weighting == "equal":
                self.mix_modalities = nn.Linear(n_mod * d, d) if n_mod > 1 else None
                self.mix_all = nn.Linear(2 * d, d)
            else:
                self.mix_all = nn.Linear((n_mod + 1) * d, d)

    def graph_specs(self) -> dict[str, GraphSpec]:
        return {"adj": GraphSpec("bipartite", {"norm": "symmetric"})}

    def prune(self, epoch: int) -> SparseGraph | None:
        return prune_edges(self.graphs["adj"], self.n_users, 1.0 - self.dropout) if self.dropout > 0 else None

    def _fuse(self, parts: list[torch.Tensor], layer: nn.Linear | None) -> torch.Tensor:
        if self.fusion == "concat":
            return layer(torch.cat(parts, dim=1))
        stacked = torch.stack(parts)
        return stacked.mean(0) if self.fusion == "mean" else stacked.sum(0)

    def fuse_items(self, item: torch.Tensor) -> torch.Tensor:
        content = [self.content(m) for m in self.modalities]
        layer = getattr(self, "mix_all", None)
        if self.weighting == "alpha":
            a = torch.sigmoid(self.alpha_logit)
            return self._fuse([a * item] + [(1 - a) * f for f in content], layer)
        if self.weighting == "normalized":
            return self._fuse([F.normalize(item, dim=1) * len(content)] + [F.normalize(f, dim=1) for f in content],
                              layer)
        fused = content[0] if len(content) == 1 else self._fuse(content, getattr(self, "mix_modalities", None))
        return self._fuse([item, fused], layer)

    def embeddings(self) -> tuple[torch.Tensor, torch.Tensor]:
        adj = self.propagation_graph()
        out = light_propagation(adj, self.embedding, self.n_ui_layers)
        return out[: self.n_users], self.fuse_items(out[self.n_users:])

    def loss(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        u, i, j = self.batch_embeddings(batch)
        ego = self.embedding
        reg = l2_regularization(ego[batch["user"]], ego[self.n_users + batch["pos"]],
                                ego[self.n_users + batch["neg"]])
        return {"bpr": bpr_loss(*pairwise_scores(u, i, j)), "reg": self.reg_weight * reg}
