"""Neural collaborative filtering (He, Liao, Zhang, Nie, Hu & Chua, WWW 2017): GMF, MLP and NeuMF.

- GMF (eq. 9–10): ŷ_ui = σ(hᵀ(p_u ⊙ q_i));
- MLP (eq. 11): z = ReLU tower over [p'_u ; q'_i], ŷ_ui = σ(hᵀz), the tower halving from ``layers[0]``;
- NeuMF (eq. 12): ŷ_ui = σ(hᵀ[p_u ⊙ q_i ; z]), separate embeddings for the two parts;
trained with the log loss over each positive and K = 4 sampled negatives (eq. 7). Pre-training (§3.4.1):
``pretrained_gmf`` / ``pretrained_mlp`` name trained GMF / MLP checkpoints of the same dataset and split; their
embeddings and tower are copied and the output layer is h = [α h_GMF ; (1 − α) h_MLP] with α = 0.5.
Choices: init N(0, 0.01) for embeddings and Xavier-uniform for the tower (the released Keras code: normal
0.01 embeddings, glorot for dense layers); the released code's per-layer L2 (default 0) is one λ on the
batch's embedding rows here.
"""

from __future__ import annotations

import torch
from torch import nn

from graphrec.errors import ConfigError
from graphrec.losses import bce_loss, l2_regularization
from graphrec.models.base import Recommender

COMPONENTS = ("gmf", "mlp")


class NeuMF(Recommender):
    sampling = "pointwise"

    def __init__(self, n_users: int, n_items: int, components: list[str] | tuple[str, ...] = ("gmf", "mlp"),
                 embedding_dim: int = 8, layers: list[int] | tuple[int, ...] = (64, 32, 16, 8),
                 reg_weight: float = 0.0, alpha: float = 0.5, n_negatives: int = 4):
        super().__init__(n_users, n_items)
        self.components = tuple(components)
        if not self.components or any(c not in COMPONENTS for c in self.components):
            raise ConfigError(f"model.components: expected a non-empty subset of {list(COMPONENTS)}, "
                              f"got {list(components)}")
        if len(layers) < 1 or layers[0] % 2:
            raise ConfigError(f"model.layers: the first layer size must be even (user and item halves), got {list(layers)}")
        self.n_negatives, self.reg_weight, self.alpha = int(n_negatives), float(reg_weight), float(alpha)
        self._loaded: set[str] = set()
        out_dim = 0
        if "gmf" in self.components:
            self.gmf_user = nn.Embedding(n_users, embedding_dim)
            self.gmf_item = nn.Embedding(n_items, embedding_dim)
            out_dim += embedding_dim
        if "mlp" in self.components:
            self.mlp_user = nn.Embedding(n_users, layers[0] // 2)
            self.mlp_item = nn.Embedding(n_items, layers[0] // 2)
            tower: list[nn.Module] = []
            for a, b in zip(layers[:-1], layers[1:]):
                tower += [nn.Linear(a, b), nn.ReLU()]
            self.tower = nn.Sequential(*tower)
            out_dim += layers[-1]
        for emb in self._embeddings():
            nn.init.normal_(emb.weight, std=0.01)
        for layer in self.modules():
            if isinstance(layer, nn.Linear):
                nn.init.xavier_uniform_(layer.weight)
                nn.init.zeros_(layer.bias)
        self.predict = nn.Linear(out_dim, 1)
        nn.init.xavier_uniform_(self.predict.weight)
        nn.init.zeros_(self.predict.bias)

    def _embeddings(self) -> list[nn.Embedding]:
        return [m for m in self.children() if isinstance(m, nn.Embedding)]

    def _hidden(self, users: torch.Tensor, items: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        parts, rows = [], []
        if "gmf" in self.components:
            pu, qi = self.gmf_user(users), self.gmf_item(items)
            parts.append(pu * qi)
            rows += [pu, qi]
        if "mlp" in self.components:
            pu, qi = self.mlp_user(users), self.mlp_item(items)
            parts.append(self.tower(torch.cat([pu, qi], -1)))
            rows += [pu, qi]
        return torch.cat(parts, -1), rows

    def score(self, users: torch.Tensor, items: torch.Tensor | None = None) -> torch.Tensor:
        if items is None:
            items = torch.arange(self.n_items, device=users.device).expand(users.numel(), -1)
        expanded = users.view(-1, *([1] * (items.dim() - 1))).expand_as(items)
        hidden, _ = self._hidden(expanded, items)
        return self.predict(hidden).squeeze(-1)

    def loss(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        hidden, rows = self._hidden(batch["user"], batch["item"])
        out = {"log": bce_loss(self.predict(hidden).squeeze(-1), batch["label"])}
        if self.reg_weight:
            out["reg"] = self.reg_weight * l2_regularization(*rows)
        return out

    def load_pretrained(self, name: str, state: dict[str, torch.Tensor]) -> None:
        """``pretrained_gmf`` / ``pretrained_mlp``: embeddings (and tower) of a trained GMF / MLP; the output
        layer becomes [α h_GMF ; (1 − α) h_MLP] and its bias α b_GMF + (1 − α) b_MLP."""
        if name not in COMPONENTS or name not in self.components:
            raise ConfigError(f"model.pretrained_{name}: this model's components are {list(self.components)}")
        own = self.state_dict()
        keys = [k for k in own if k.startswith(f"{name}_") or (name == "mlp" and k.startswith("tower."))]
        missing = [k for k in keys if k not in state or state[k].shape != own[k].shape]
        if missing:
            raise ConfigError(f"model.pretrained_{name}: the checkpoint has no matching '{missing[0]}' "
                              f"(is it a {name.upper()} of this dataset with the same sizes?)")
        with torch.no_grad():
            for k in keys:
                own[k].copy_(state[k])
            width = self.gmf_user.embedding_dim if "gmf" in self.components else 0
            cols = slice(0, width) if name == "gmf" else slice(width, None)
            weight = 1.0 if len(self.components) == 1 else (self.alpha if name == "gmf" else 1.0 - self.alpha)
            self.predict.weight[:, cols] = weight * state["predict.weight"]
            if self._loaded:
                self.predict.bias += weight * state["predict.bias"]
            else:
                self.predict.bias.copy_(weight * state["predict.bias"])
        self._loaded.add(name)
