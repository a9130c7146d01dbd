"""VBPR: visual Bayesian personalised ranking (He & McAuley, AAAI 2016).

Eq. 2 of the paper: x̂_ui = α + β_u + β_i + γ_uᵀγ_i + θ_uᵀ(E f_i) + β'ᵀf_i, trained with BPR (eq. 4) and
λ-regularised factors. α and β_u cancel in every pairwise difference and in a per-user ranking, so they are
omitted. The score is one dot product of augmented vectors, e_u = [γ_u ‖ θ_u ‖ 1] and
e_i = [γ_i ‖ E f_i ‖ β_i + β'ᵀf_i], so evaluation is one GEMM per user block.
Choices: f_i is the concatenation of every available modality (the paper has one visual feature; MMRec
concatenates image and text); the regulariser λ/2 Σ‖·‖²/B is taken on the batch's full user and item vectors,
content part E f_i and bias included, which keeps E in check the way the paper's λ_E‖E‖² does, at batch cost.
On TikTok validation (R@20): ID factors only regularised, λ = 1e-4: 0.021; full vectors, λ = 1e-4 / 1e-3 /
1e-2: 0.041 / 0.060 / 0.056; without biases at 1e-4: 0.028. Default λ = 1e-3.
``item_bias=False`` drops β_i and β'ᵀf_i, as MMRec does. ``loss=log`` trains with the pointwise log loss on a
positive and ``n_negatives`` sampled negatives instead of BPR, as Multimodal IRIS adapts VBPR (its §4.2) for the
leave-one-out protocol; α and β_u no longer cancel there, so a global bias α is learned (β_u stays out: it
does not change a user's ranking and the user vector already has a constant column against β_i).
"""

from __future__ import annotations

import torch
from torch import nn

from graphrec.errors import ConfigError
from graphrec.losses import bce_loss, bpr_loss, l2_regularization, pairwise_scores
from graphrec.models.base import Recommender


class VBPR(Recommender):
    def __init__(self, n_users: int, n_items: int, features: dict[str, torch.Tensor], embedding_dim: int = 64,
                 content_dim: int = 64, reg_weight: float = 1e-3, item_bias: bool = True, loss: str = "bpr",
                 n_negatives: int = 4):
        super().__init__(n_users, n_items)
        if loss not in ("bpr", "log"):
            raise ConfigError(f"model.loss: expected 'bpr' or 'log', got '{loss}'")
        self.loss_kind = loss
        if loss == "log":
            self.sampling, self.n_negatives = "pointwise", int(n_negatives)
            self.global_bias = nn.Parameter(torch.zeros(()))
        self.register_features(features)
        feat_dim = sum(self.feature(m).shape[1] for m in self.modalities)
        self.gamma_user = nn.Parameter(nn.init.xavier_uniform_(torch.empty(n_users, embedding_dim)))
        self.gamma_item = nn.Parameter(nn.init.xavier_uniform_(torch.empty(n_items, embedding_dim)))
        self.theta_user = nn.Parameter(nn.init.xavier_uniform_(torch.empty(n_users, content_dim)))
        self.projection = nn.Linear(feat_dim, content_dim, bias=False)  # E
        nn.init.xavier_uniform_(self.projection.weight)
        self.item_bias = item_bias
        if item_bias:
            self.beta_item = nn.Parameter(torch.zeros(n_items))
            self.beta_visual = nn.Parameter(torch.zeros(feat_dim))  # β'
        self.reg_weight = reg_weight

    def _content(self) -> torch.Tensor:
        return torch.cat([self.feature(m) for m in self.modalities], dim=1)

    def item_id_embeddings(self) -> torch.Tensor:
        return self.gamma_item  # the first columns of the item vectors, against γ_u

    def embeddings(self) -> tuple[torch.Tensor, torch.Tensor]:
        f = self._content()
        users = [self.gamma_user, self.theta_user]
        items = [self.gamma_item, self.projection(f)]
        if self.item_bias:
            users.append(torch.ones(self.n_users, 1, device=f.device))
            items.append((self.beta_item + f @ self.beta_visual).unsqueeze(1))
        return torch.cat(users, dim=1), torch.cat(items, dim=1)

    def score(self, users: torch.Tensor, items: torch.Tensor | None = None) -> torch.Tensor:
        scores = super().score(users, items)
        return scores + self.global_bias if self.loss_kind == "log" else scores

    def loss(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        if self.loss_kind == "log":
            users, items = self.embeddings()
            u, i = users[batch["user"]], items[batch["item"]]
            logits = (u * i).sum(-1) + self.global_bias
            user_factors = u[:, :-1] if self.item_bias else u
            return {"log": bce_loss(logits, batch["label"]),
                    "reg": self.reg_weight * l2_regularization(user_factors, i, batch_size=u.shape[0])}
        u, i, j = self.batch_embeddings(batch)
        pos, neg = pairwise_scores(u, i, j)
        user_factors = u[:, :-1] if self.item_bias else u  # the constant 1 is not a parameter
        reg = l2_regularization(user_factors, i, j, batch_size=u.shape[0])
        return {"bpr": bpr_loss(pos, neg), "reg": self.reg_weight * reg}
