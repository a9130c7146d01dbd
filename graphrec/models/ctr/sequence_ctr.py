"""Sequence baselines of MTIN's Table 2 on the ``ctr`` task: an encoder of the clicked history H_pos
(oldest first) gives the user's interest u, and a two-layer MLP on [u ; x_e] scores the candidate x_e.

- ``LSTMClick`` (Zhang et al., AAAI 2014, as MTIN uses it): h_t = LSTM(x_1 … x_t); u = the mean of the hidden
  states over the valid steps ("the aggregation of hidden states", MTIN §5.1). Histories are left-aligned, so
  padding after the last valid step never reaches a valid state.
- ``CNNClick`` (MTIN's CNN baseline): a 1-D convolution over the sequence (window ``kernel``, ReLU), max pooling
  over the valid positions (MTIN §5.1: "the max pooling layer and MLP layers").
Both use the items' ID embeddings plus a projection of their features when there are any (``ItemVectors``); a
user without any earlier click has u = 0.
"""

from __future__ import annotations

import torch
from torch import nn

from graphrec.models.ctr.common import ClickModel, ItemVectors, history, masked_mean
from graphrec.models.layers.mlp import mlp


class SequenceClick(ClickModel):
    """Common part: item vectors, ``encode(x, mask) -> u``, the MLP on [u ; x_e], the batch's row norms."""

    def __init__(self, n_users: int, n_items: int, features: dict[str, torch.Tensor] | None,
                 embedding_dim: int, hidden: int, use_features: bool, reg_weight: float):
        super().__init__(n_users, n_items)
        self.items = ItemVectors(n_items, embedding_dim, features, use_features)
        self.output = mlp([2 * embedding_dim, hidden, 1], nn.ReLU)
        self.reg_weight = float(reg_weight)

    def encode(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        target = self.items(batch["item"])
        items, _, mask = history(batch, "pos")
        x = self.items(items)
        user = self.encode(x, mask)
        logit = self.output(torch.cat([user, target], -1)).squeeze(-1)
        return logit, (target.pow(2).sum() + (x.pow(2).sum(-1) * mask).sum()) / target.shape[0]


class LSTMClick(SequenceClick):
    def __init__(self, n_users: int, n_items: int, features: dict[str, torch.Tensor] | None = None,
                 embedding_dim: int = 64, hidden: int = 64, use_features: bool = True, reg_weight: float = 1e-4):
        super().__init__(n_users, n_items, features, embedding_dim, hidden, use_features, reg_weight)
        self.lstm = nn.LSTM(embedding_dim, embedding_dim, batch_first=True)

    def encode(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        states, _ = self.lstm(x)
        return masked_mean(states, mask)


class CNNClick(SequenceClick):
    def __init__(self, n_users: int, n_items: int, features: dict[str, torch.Tensor] | None = None,
                 embedding_dim: int = 64, hidden: int = 64, kernel: int = 3, use_features: bool = True,
                 reg_weight: float = 1e-4):
        super().__init__(n_users, n_items, features, embedding_dim, hidden, use_features, reg_weight)
        self.conv = nn.Conv1d(embedding_dim, embedding_dim, kernel, padding=kernel // 2)

    def encode(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        h = torch.relu(self.conv((x * mask[..., None]).transpose(1, 2))).transpose(1, 2)
        pooled = h.masked_fill(~mask[..., None], float("-inf")).amax(1)
        return torch.where(mask.any(1, keepdim=True), pooled, torch.zeros_like(pooled))
