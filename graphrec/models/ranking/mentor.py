"""MENTOR (Xu et al., AAAI 2025, "MENTOR: Multi-level Self-supervised Learning for Multimodal Recommendation").

The paper's text is not on this machine; the sections follow its outline and the official code
(Jinfeng-Xu/MENTOR, ``src/models/mentor.py``, built on DRAGON), read for the maths, not copied.

- Encoders (DRAGON's heterogeneous graph, ``models.layers.dual_graph.ModalityGCN``): per modality m, and for the
  ID "modality" (a learned item table X_id through the same kind of MLP), x̂ = x + Âx + Â²x over
  x = ℓ2-normalise([P; MLP(features)]), Â the symmetric-normalised training graph without self-loops.
- Fusion: e_u = ‖_m w_um x̂_m,u (learned per-user modality weights), e_i = ‖_m x̂_m,i, then the frozen item–item
  graph (kNN per modality, k = 10, weights visual 0.1 / other 0.9): e_i ← e_i + S^L e_i. s_ui = ⟨e_u, e_i⟩.
- Multi-level alignment (the "guide"): tables of the same width from the ID encoder alone (‖_m x̂_id), from each
  modality alone (‖_m x̂_m'), and the fused one; L_align = Σ over every pair (a, b) of these tables of
  |Var(a) − Var(b)| + |mean(a) − mean(b)| (one scalar variance and mean per whole table, as the official code).
- General feature enhancement, from the feature side: L_f = Σ_{users, items} (1 − mean cos(dropout_p(e), W e + b));
  from the graph side: two noisy fused tables from separately parametrised encoders whose layer outputs are
  perturbed (h + ε sign(h) ⊙ normalize(U(0,1))), L_g = InfoNCE(users₁, users₂) + InfoNCE(items₁, items₂) with every
  user (item) a negative (τ).
- L = −mean log₂ σ(s_ui − s_uj) + λ_reg (Σ_m mean P_m,u² + mean w²) + λ_align L_align + λ_f L_f + λ_g L_g.

Deviations, and why:
- The official code computes L_f entirely under ``torch.no_grad()``: the term is a constant and trains nothing.
  Here it has its gradient, as the paper describes it; ``mask_f_weight: 0`` is the official behaviour.
- The all-node InfoNCE of L_g runs in row blocks with recomputation (``losses.info_nce_all(chunk_rows=...)``)
  instead of the official dense users × users and items × items matrices.
- Dead code of the official model is not built: its user–user graph (loaded and sampled each epoch, never used in
  the forward pass), the per-modality item-dropout edge lists (passed to the encoders, which ignore them),
  ``weight_i``, ``MLP_user`` and the ``result_embed*`` parameters (overwritten by the forward pass).
- The official encoders' preference tables follow DRAGON's ``nn.Parameter(...).to(device)``: on a GPU not
  registered, never trained; here they train (as on the official code's CPU runs).
- TikTok has visual and acoustic features, no text: the second modality is acoustic. With M modalities the tables
  are M·d wide (2·64 in the paper).
"""

from __future__ import annotations

import math
from itertools import combinations

import torch
import torch.nn.functional as F
from torch import nn

from graphrec.errors import ConfigError
from graphrec.graphs.store import GraphSpec
from graphrec.losses import bpr_loss, info_nce_all, pairwise_scores
from graphrec.models.base import Recommender
from graphrec.models.layers.dual_graph import ModalityGCN
from graphrec.models.layers.itemgraph import FrozenItemGraph, FrozenItemRefinement


def moment_alignment(tables: list[torch.Tensor]) -> torch.Tensor:
    """Σ over pairs of tables of |Var(a) − Var(b)| + |mean(a) − mean(b)| (scalar statistics of each whole table)."""
    stats = [(t.var(), t.mean()) for t in tables]
    return sum(((va - vb).abs() + (ma - mb).abs() for (va, ma), (vb, mb) in combinations(stats, 2)),
               tables[0].new_zeros(()))


class MENTOR(FrozenItemRefinement, Recommender):
    def __init__(self, n_users: int, n_items: int, features: dict[str, torch.Tensor], embedding_dim: int = 64,
                 knn_k: int = 10, image_weight: float = 0.1, n_mm_layers: int = 1, reg_weight: float = 1e-3,
                 align_weight: float = 0.1, mask_f_weight: float = 1.5, mask_g_weight: float = 1e-3,
                 dropout: float = 0.5, temperature: float = 0.2, noise_eps: float = 0.1, contrast_chunk: int = 2048):
        super().__init__(n_users, n_items)
        if not 0.0 <= dropout < 1.0:
            raise ConfigError(f"model.dropout: expected a value in [0, 1), got {dropout}")
        if noise_eps <= 0.0:
            raise ConfigError(f"model.noise_eps: expected a positive perturbation size, got {noise_eps}")
        self.register_features(features)
        d, n_modalities = int(embedding_dim), len(self.modalities)
        self.encoders = nn.ModuleDict({m: ModalityGCN(n_users, features[m].shape[1], d) for m in self.modalities})
        self.noisy = nn.ModuleList(nn.ModuleDict({m: ModalityGCN(n_users, features[m].shape[1], d)
                                                  for m in self.modalities}) for _ in range(2))
        self.id_feature = nn.Parameter(nn.init.xavier_normal_(torch.empty(n_items, d)))
        self.id_encoder = ModalityGCN(n_users, d, d)
        noise = nn.init.xavier_normal_(torch.empty(n_users, n_modalities, 1))
        self.user_weight = nn.Parameter(torch.softmax(noise, dim=1).squeeze(-1))  # ≈ 1/M each, as DRAGON
        self.mask_mlp = nn.Linear(n_modalities * d, n_modalities * d)
        self.frozen = FrozenItemGraph(self.modalities, knn_k, image_weight)
        self.knn_k, self.n_mm_layers = int(knn_k), int(n_mm_layers)
        self.reg_weight, self.align_weight = float(reg_weight), float(align_weight)
        self.mask_f_weight, self.mask_g_weight = float(mask_f_weight), float(mask_g_weight)
        self.dropout, self.temperature, self.noise_eps = float(dropout), float(temperature), float(noise_eps)
        self.contrast_chunk = int(contrast_chunk)

    def graph_specs(self) -> dict[str, GraphSpec]:
        return {"adj": GraphSpec("bipartite", {"norm": "symmetric"}), **super().graph_specs()}

    # ------------------------------------------------------------------ tables (users first)
    def fuse(self, views: list[torch.Tensor], weighted: bool = True) -> torch.Tensor:
        """[‖_m w_um v_m,u ; refine(‖_m v_m,i)] (without w for the guide and single-modality tables)."""
        n = self.n_users
        users = [(self.user_weight[:, k:k + 1] * v[:n]) if weighted else v[:n] for k, v in enumerate(views)]
        return torch.cat([torch.cat(users, dim=1), self.refine_items(torch.cat([v[n:] for v in views], dim=1))])

    def encode(self, encoders: nn.ModuleDict, perturb: float = 0.0) -> dict[str, torch.Tensor]:
        return {m: encoders[m](self.graphs["adj"], self.feature(m), perturb) for m in self.modalities}

    def node_embeddings(self, rows: torch.Tensor | None = None) -> torch.Tensor:
        out = self.fuse(list(self.encode(self.encoders).values()))
        return out if rows is None else out[rows]

    # ------------------------------------------------------------------ losses
    def feature_mask_loss(self, table: torch.Tensor) -> torch.Tensor:
        """1 − mean cos(dropout(e), W e + b), for the user rows plus the item rows."""
        loss = table.new_zeros(())
        for part in (table[: self.n_users], table[self.n_users:]):
            loss = loss + 1 - F.cosine_similarity(F.dropout(part, self.dropout), self.mask_mlp(part)).mean()
        return loss

    def noise_contrast(self, first: torch.Tensor, second: torch.Tensor) -> torch.Tensor:
        """InfoNCE of the users (items) of two noisy tables, every user (item) a candidate; means per side."""
        n, loss = self.n_users, first.new_zeros(())
        for a, b in ((first[:n], second[:n]), (first[n:], second[n:])):
            loss = loss + info_nce_all(a, b, b, self.temperature, self.contrast_chunk) / a.shape[0]
        return loss

    def loss(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        reps = self.encode(self.encoders)
        final = self.fuse(list(reps.values()))
        u, i, j = self.split_pairwise_rows(final[self.pairwise_node_rows(batch)], batch)
        n_modalities = len(self.modalities)
        identity = self.id_encoder(self.graphs["adj"], self.id_feature)
        guide = self.fuse([identity] * n_modalities, weighted=False)
        single = [self.fuse([reps[m]] * n_modalities, weighted=False) for m in self.modalities]
        noisy = [self.fuse(list(self.encode(encoders, self.noise_eps).values())) for encoders in self.noisy]
        reg = sum((self.encoders[m].preference[batch["user"]] ** 2).mean() for m in self.modalities)
        return {"bpr": bpr_loss(*pairwise_scores(u, i, j)) / math.log(2),
                "reg": self.reg_weight * (reg + (self.user_weight ** 2).mean()),
                "align": self.align_weight * moment_alignment([final, guide, *single]),
                "mask_f": self.mask_f_weight * self.feature_mask_loss(final),
                "mask_g": self.mask_g_weight * self.noise_contrast(*noisy)}
