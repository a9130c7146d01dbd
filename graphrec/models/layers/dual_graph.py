"""What DualGNN and DRAGON share: modality-specific user–item graph learning, a learned per-user weight of each
modality, and aggregation over the user–user co-occurrence graph (the official codes of both are one file
copied twice; MMRec's ``dualgnn.py`` and ``dragon.py``).

Per modality m (``ModalityGCN``): user preferences P_m ∈ R^{U×d} (free parameters) and item content
c_i = W₂ LeakyReLU(W₁ x_i^m + b₁) + b₂ (d_m → 4d → d). The stacked rows x = ℓ2-normalise([P_m; c]) are propagated
twice over the symmetric-normalised user–item graph Â (no self-loops) and summed with the input:

    x̂_m = x + Âx + Â²x.

Fusion over modalities with per-user weights w_u ∈ R^M (initialised near 1/M, learned):
``sum`` (DualGNN) e_u = Σ_m w_um x̂_m,u, e_i = Σ_m x̂_m,i; ``concat`` (DRAGON) e_u = ‖_m w_um x̂_m,u, e_i = ‖_m x̂_m,i.
User–user graph (the ``user_cooccurrence`` builder: each user's top-k users by shared items, softmax of the
counts over those k): e_u ← e_u + Σ_v g_uv e_v. Score s_ui = ⟨e_u, e_i⟩.

Loss: −mean log₂ σ(s_ui − s_uj) (the official log₂, i.e. BPR / ln 2) + λ (Σ_m mean_batch P_m,u² + mean w²).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from graphrec.errors import ConfigError
from graphrec.graphs.sparse import SparseGraph
from graphrec.graphs.store import GraphSpec
from graphrec.losses import bpr_loss, pairwise_scores
from graphrec.models.base import Recommender

FUSIONS = ("sum", "concat")


class ModalityGCN(nn.Module):
    """x̂_m = x + Âx + Â²x over x = ℓ2-normalise([P_m; MLP(x^m)]) for one modality. With ``perturb`` = ε > 0
    (MENTOR's noisy views, as SimGCL) each layer's output h gets h + ε · sign(h) ⊙ normalize(U(0, 1) noise) before
    the next layer and the sum."""

    def __init__(self, n_users: int, feature_dim: int, dim: int):
        super().__init__()
        self.preference = nn.Parameter(nn.init.xavier_normal_(torch.empty(n_users, dim)))
        self.mlp = nn.Sequential(nn.Linear(feature_dim, 4 * dim), nn.LeakyReLU(), nn.Linear(4 * dim, dim))

    def forward(self, adj: SparseGraph, features: torch.Tensor, perturb: float = 0.0) -> torch.Tensor:
        x = F.normalize(torch.cat([self.preference, self.mlp(features)]), dim=1)
        if perturb == 0.0:
            return adj.power_sum(x, 2)
        out, h = x, x
        for _ in range(2):
            h = adj @ h
            h = h + perturb * torch.sign(h) * F.normalize(torch.rand_like(h), dim=1)
            out = out + h
        return out


class DualGraphRecommender(Recommender):
    """Base of DualGNN and DRAGON (maths in the module docstring); subclasses may refine item rows."""

    def __init__(self, n_users: int, n_items: int, features: dict[str, torch.Tensor], embedding_dim: int,
                 fusion: str, user_top_k: int, reg_weight: float):
        super().__init__(n_users, n_items)
        if fusion not in FUSIONS:
            raise ConfigError(f"model.fusion must be one of {', '.join(FUSIONS)}, got {fusion!r}")
        if user_top_k < 1:
            raise ConfigError(f"model.user_top_k must be at least 1, got {user_top_k}")
        self.register_features(features)
        self.gcn = nn.ModuleDict({m: ModalityGCN(n_users, features[m].shape[1], embedding_dim)
                                  for m in self.modalities})
        # w_u: softmax of Xavier-normal noise over the modalities, as the official code (≈ 1/M each)
        noise = nn.init.xavier_normal_(torch.empty(n_users, len(self.modalities), 1))
        self.user_weight = nn.Parameter(torch.softmax(noise, dim=1).squeeze(-1))
        self.fusion, self.user_top_k, self.reg_weight = fusion, int(user_top_k), float(reg_weight)

    def graph_specs(self) -> dict[str, GraphSpec]:
        return {"adj": GraphSpec("bipartite", {"norm": "symmetric"}),
                "users": GraphSpec("user_cooccurrence", {"min_items": 1, "top_k": self.user_top_k,
                                                         "norm": "softmax"})}

    def refine_items(self, item: torch.Tensor) -> torch.Tensor:
        """Item rows after fusion; DRAGON adds its item–item graph here."""
        return item

    def embeddings(self) -> tuple[torch.Tensor, torch.Tensor]:
        views = [self.gcn[m](self.graphs["adj"], self.feature(m)) for m in self.modalities]
        users = [self.user_weight[:, k:k + 1] * v[: self.n_users] for k, v in enumerate(views)]
        items = [v[self.n_users:] for v in views]
        if self.fusion == "sum":
            user, item = torch.stack(users).sum(0), torch.stack(items).sum(0)
        else:
            user, item = torch.cat(users, dim=1), torch.cat(items, dim=1)
        return user + self.graphs["users"] @ user, self.refine_items(item)

    def loss(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        u, i, j = self.batch_embeddings(batch)
        reg = sum((self.gcn[m].preference[batch["user"]] ** 2).mean() for m in self.modalities)
        return {"bpr": bpr_loss(*pairwise_scores(u, i, j)) / math.log(2),
                "reg": self.reg_weight * (reg + (self.user_weight ** 2).mean())}
