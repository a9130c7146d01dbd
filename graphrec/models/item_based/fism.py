"""FISM: factored item similarity models (Kabbur, Ning & Karypis, KDD 2013), trained with the log loss.

eq. 4 of the paper: r̂_ui = b_u + b_i + (|R⁺_u| − 1)^(−α) Σ_{j ∈ R⁺_u \\ {i}} p_jᵀ q_i, with two item tables
(P for history items, Q for targets) and the target excluded from its own history (|R⁺_u| for a target the
user has not interacted with).
Deviations: the paper trains FISMrmse (squared loss over sampled zeros) and FISMauc (pairwise); here it is
trained with the pointwise log loss on 1 positive + K sampled negatives, as NAIS (He et al., TKDE 2018) does
when it compares against and pre-trains from FISM; regularisation is λ(‖P‖² + ‖Q‖²) + λ_b‖b‖² on the full
tables (NAIS' code), init N(0, 0.01) as NAIS' code. A user whose only training item is the target gets the
empty history: the similarity term is 0 and the biases decide.
"""

from __future__ import annotations

import torch
from torch import nn

from graphrec.models.layers.history import segment_sum
from graphrec.models.item_based.recommender import ItemBasedRecommender


class FISM(ItemBasedRecommender):
    def __init__(self, n_users: int, n_items: int, embedding_dim: int = 16, alpha: float = 0.5,
                 reg_weight: float = 1e-7, bias_reg_weight: float = 0.0, n_negatives: int = 4,
                 max_elements: int = 4_000_000):
        super().__init__(n_users, n_items, n_negatives, max_elements)
        self.P = nn.Parameter(torch.randn(n_items, embedding_dim) * 0.01)
        self.Q = nn.Parameter(torch.randn(n_items, embedding_dim) * 0.01)
        self.user_bias = nn.Parameter(torch.zeros(n_users))
        self.item_bias = nn.Parameter(torch.zeros(n_items))
        self.alpha, self.reg_weight, self.bias_reg_weight = float(alpha), float(reg_weight), float(bias_reg_weight)

    def score_rows(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        hist = self.history.rows(users, items)
        p = self.P[hist.item]
        total = segment_sum(p, hist.row, hist.n_rows)  # Σ_{j ∈ R⁺_u} p_j  [G, d]
        inside = segment_sum((~hist.keep).float(), hist.row, hist.n_rows)  # 1 where the target is in R⁺_u
        q = self.Q[items]  # [G, T, d]
        similarity = (total.unsqueeze(1) * q).sum(-1) - inside * (self.P[items] * q).sum(-1)
        norm = (self.history.degree[users].unsqueeze(1) - inside).clamp_min(1.0).pow(-self.alpha)
        return similarity * norm + self.user_bias[users].unsqueeze(1) + self.item_bias[items]

    def regularization(self) -> torch.Tensor:
        return self.reg_weight * (self.P.pow(2).sum() + self.Q.pow(2).sum()) + \
            self.bias_reg_weight * (self.user_bias.pow(2).sum() + self.item_bias.pow(2).sum())
