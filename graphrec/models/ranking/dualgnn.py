"""DualGNN: Dual Graph Neural Network for Multimedia Recommendation (Wang et al., IEEE TMM 2021).

Implemented as MMRec's ``dualgnn.py`` (e775373) defines it, through ``models.layers.dual_graph`` (maths there):
- single-modal representation learning (§III-A): per modality a user preference table and an item MLP,
  ℓ2-normalised and propagated over the user–item graph, x̂_m = x + Âx + Â²x;
- multi-modal fusion (§III-B), the ``weighted_sum`` pattern of the official code: e_u = Σ_m w_um x̂_m,u with a
  learned weight per user and modality, e_i = Σ_m x̂_m,i;
- the user co-occurrence graph (§III-C): each user's top-k (k = 40) users by the number of shared training
  items, weights softmax(counts) over those k, e_u ← e_u + Σ_v g_uv e_v;
- prediction s_ui = ⟨e_u, e_i⟩ and the loss −mean log₂ σ(s_ui − s_uj) + λ(Σ_m mean P_m,u² + mean w²).
TikTok has no text: the second modality is acoustic (MMRec users do the same).

Deviations from the official code, and why:
- Its two-modality ``representation += t_rep`` adds in place into ``v_rep``, so the user's "visual" branch is
  x̂_v + x̂_t and acoustic counts twice in e_u = w_v (x̂_v + x̂_t) + w_t x̂_t. Here each branch is its own
  modality, as the paper's fusion states (a copy bug, not the method).
- A user with fewer than k co-occurring users is padded, every epoch, with random repeats of its neighbours whose
  counts then enter the softmax again (a neighbour drawn twice weighs double, at random); here the softmax runs
  over the real neighbours only, fixed for the run.
- The official code penalises a per-item weight table ``weight_i`` that no score uses (its only gradient is its
  own penalty); it is left out. The item-dropout edge lists it builds are never used by its forward; not built.
- The official user preference tables are ``nn.Parameter(...).to(device)``: on a GPU that returns a copy
  that is no registered parameter, so MMRec's GPU runs never train them (on CPU they train). Here they train.
- Evaluation recomputes the representations in eval mode; the official code scores with the ones cached by the
  last training batch (one optimiser step stale).
"""

from __future__ import annotations

import torch

from graphrec.models.layers.dual_graph import DualGraphRecommender


class DualGNN(DualGraphRecommender):
    def __init__(self, n_users: int, n_items: int, features: dict[str, torch.Tensor], embedding_dim: int = 64,
                 user_top_k: int = 40, reg_weight: float = 1e-3):
        super().__init__(n_users, n_items, features, embedding_dim, fusion="sum", user_top_k=user_top_k,
                         reg_weight=reg_weight)
