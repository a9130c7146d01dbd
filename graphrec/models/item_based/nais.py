"""NAIS: neural attentive item similarity (He, He, Song, Liu, Jiang & Chua, TKDE 2018).

ŷ_ui = σ( Σ_{j ∈ R⁺_u \\ {i}} w_ij p_jᵀ q_i + b_i ) (eq. 3 with the attention weights of eq. 5–7, see
``graphrec.models.layers.item_attention``), trained with the log loss over each positive and K = 4 sampled negatives
(eq. 9), regularised by λ‖P‖² + γ‖Q‖² + η‖W‖² on the full tables (the paper's λ with the released code's
three values 1e-7, 1e-7, 1e-5). β = 0.5 smooths the softmax denominator; the target is removed from its own
history. Pre-training (``pretrained_fism``, the paper's §4.3): P, Q and b_i start from a trained FISM
checkpoint of the same dataset and split (the experiment checks both), the attention from its own init.
Choices: embeddings N(0, 0.01) without pre-training, as the released code; the history weights multiply
p_j only (the released code's form), not a separate user vector.
"""

from __future__ import annotations

import torch
from torch import nn

from graphrec.models.layers.history import segment_sum
from graphrec.models.layers.item_attention import ItemAttention
from graphrec.models.item_based.recommender import ItemBasedRecommender


class NAIS(ItemBasedRecommender):
    def __init__(self, n_users: int, n_items: int, embedding_dim: int = 16, attention_size: int = 16,
                 attention: str = "prod", beta: float = 0.5, reg_weight: float = 1e-7, target_reg_weight: float = 1e-7,
                 attention_reg_weight: float = 1e-5, n_negatives: int = 4, max_elements: int = 4_000_000):
        super().__init__(n_users, n_items, n_negatives, max_elements)
        self.P = nn.Parameter(torch.randn(n_items, embedding_dim) * 0.01)
        self.Q = nn.Parameter(torch.randn(n_items, embedding_dim) * 0.01)
        self.item_bias = nn.Parameter(torch.zeros(n_items))
        self.attention = ItemAttention(embedding_dim, attention_size, attention, beta)
        self.reg = (float(reg_weight), float(target_reg_weight), float(attention_reg_weight))

    def score_rows(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        hist = self.history.rows(users, items)
        p, q = self.P[hist.item], self.Q[items]  # [E, d], [G, T, d]
        pq = p.unsqueeze(1) * q[hist.row]  # [E, T, d]
        w = self.attention.weights(hist, p, q, pq)  # [E, T]
        return segment_sum(w * pq.sum(-1), hist.row, hist.n_rows) + self.item_bias[items]

    def regularization(self) -> torch.Tensor:
        lam, gamma, eta = self.reg
        return lam * self.P.pow(2).sum() + gamma * self.Q.pow(2).sum() + eta * self.attention.penalty()
