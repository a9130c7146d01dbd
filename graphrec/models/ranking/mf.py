"""BPR-MF: matrix factorisation trained with Bayesian personalised ranking (Rendle et al., UAI 2009).

s_ui = ⟨p_u, q_i⟩; loss = BPR + λ/2 (‖p_u‖² + ‖q_i‖² + ‖q_j‖²) / B over the batch. Xavier-uniform init
(as in RecBole and MMRec).
"""

from __future__ import annotations

import torch
from torch import nn

from graphrec.losses import bpr_loss, l2_regularization, pairwise_scores
from graphrec.models.base import Recommender


class MF(Recommender):
    def __init__(self, n_users: int, n_items: int, embedding_dim: int = 64, reg_weight: float = 1e-4):
        super().__init__(n_users, n_items)
        self.user_emb = nn.Embedding(n_users, embedding_dim)
        self.item_emb = nn.Embedding(n_items, embedding_dim)
        nn.init.xavier_uniform_(self.user_emb.weight)
        nn.init.xavier_uniform_(self.item_emb.weight)
        self.reg_weight = reg_weight

    def embeddings(self) -> tuple[torch.Tensor, torch.Tensor]:
        return self.user_emb.weight, self.item_emb.weight

    def item_id_embeddings(self) -> torch.Tensor:
        return self.item_emb.weight

    def lookup(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The batch's rows of the ID tables: (users, positives, negatives); where the tables live is this
        method's business (``graphrec.training.sharded_tables`` looks them up in TorchRec shards)."""
        return self.user_emb(batch["user"]), self.item_emb(batch["pos"]), self.item_emb(batch["neg"])

    def loss(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        u, i, j = self.lookup(batch)
        pos, neg = pairwise_scores(u, i, j)
        return {"bpr": bpr_loss(pos, neg),
                "reg": self.reg_weight * l2_regularization(u, i, j, batch_size=u.shape[0])}
