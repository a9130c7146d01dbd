"""DRAGON: Enhancing Dyadic Relations with Homogeneous Graphs for Multimodal Recommendation (Zhou et al., ECAI 2023).

Dual representations from a heterogeneous and two homogeneous graphs, as the authors' code (MMRec's ``dragon.py``,
e775373) implements them; the shared parts are ``models.layers.dual_graph`` (maths there):
- heterogeneous user–item graph per modality (§3.1): user preference table + item MLP, ℓ2-normalised,
  x̂_m = x + Âx + Â²x over the symmetric-normalised training graph;
- attentive concatenation (§3.3): e_u = ‖_m w_um x̂_m,u with learned per-user modality weights, e_i = ‖_m x̂_m,i
  (dimension M·d);
- homogeneous item–item graph (§3.2): per modality a kNN graph (k = 10, cosine on the raw features, the item
  itself included, binary, â_ij = a_ij / sqrt(r_i r_j)), frozen, summed with weights (visual 0.1, the rest
  0.9, ``image_weight``): e_i ← e_i + S^L e_i (L = ``n_mm_layers`` = 1);
- homogeneous user–user graph (§3.2): top-k (k = 40) co-occurring users, softmax of shared-item counts,
  e_u ← e_u + Σ_v g_uv e_v;
- s_ui = ⟨e_u, e_i⟩, loss −mean log₂ σ(s_ui − s_uj) + λ(Σ_m mean P_m,u² + mean w²) (§3.4).
TikTok has no text: the second modality is acoustic.

Deviations from the official code, and why:
- Users with fewer than k co-occurring users: the official code pads them every epoch with random repeats whose
  counts enter the softmax again; here the softmax runs over the real neighbours only (as DualGNN here).
- The official user preference tables are ``nn.Parameter(...).to(device)``: on a GPU that returns a copy
  that is no registered parameter, so MMRec's GPU runs never train them (on CPU they train). Here they train.
- Evaluation recomputes the representations in eval mode; the official code scores with the ones cached by the
  last training batch. The unused item-dropout edge lists and ``MLP_user`` of the official code are not built.
- The paper's text was not available in this workplace; section names follow its abstract and the code.
"""

from __future__ import annotations

import torch

from graphrec.models.layers.dual_graph import DualGraphRecommender
from graphrec.models.layers.itemgraph import FrozenItemGraph, FrozenItemRefinement


class DRAGON(FrozenItemRefinement, DualGraphRecommender):
    def __init__(self, n_users: int, n_items: int, features: dict[str, torch.Tensor], embedding_dim: int = 64,
                 knn_k: int = 10, image_weight: float = 0.1, n_mm_layers: int = 1, user_top_k: int = 40,
                 reg_weight: float = 1e-3):
        super().__init__(n_users, n_items, features, embedding_dim, fusion="concat", user_top_k=user_top_k,
                         reg_weight=reg_weight)
        self.knn_k, self.n_mm_layers = int(knn_k), int(n_mm_layers)
        self.frozen = FrozenItemGraph(self.modalities, knn_k, image_weight)
