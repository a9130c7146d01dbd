"""NAIS' attention over a user's history items (He et al., TKDE 2018, eq. 5–7).

For target i and history item j: a_ij = hᵀ ReLU(W (p_j ⊙ q_i) + b) (``prod``, eq. 6) or
a_ij = hᵀ ReLU(W [p_j ; q_i] + b) (``concat``, eq. 5); weights w_ij = exp(a_ij) / (Σ_k exp(a_ik))^β (eq. 7).
``mean`` is the ablation without attention: w_ij = 1 / |R⁺_u \\ {i}| (mean pooling, FISM with α = 1).
``concat`` splits W = [W_p W_q], so W_q q_i + b is computed once per row, not once per history element.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from graphrec.errors import ConfigError
from graphrec.models.layers.history import HistoryRows, smoothed_softmax

ATTENTION_KINDS = ("prod", "concat", "mean")


class ItemAttention(nn.Module):
    def __init__(self, dim: int, attention_size: int = 16, kind: str = "prod", beta: float = 0.5):
        super().__init__()
        if kind not in ATTENTION_KINDS:
            raise ConfigError(f"model.attention: '{kind}' is not one of {', '.join(ATTENTION_KINDS)}")
        if not 0.0 <= beta <= 1.0:
            raise ConfigError(f"model.beta: the smoothing exponent must lie in [0, 1], got {beta}")
        self.kind, self.beta = kind, float(beta)
        if kind == "mean":
            return
        self.W = nn.Linear(dim * (2 if kind == "concat" else 1), attention_size)
        self.h = nn.Parameter(torch.empty(attention_size))
        # Xavier-style init as in NAIS' code: W and h ~ N(0, 2 / (fan_in + fan_out))
        nn.init.normal_(self.W.weight, std=(2.0 / (dim + attention_size)) ** 0.5)
        nn.init.zeros_(self.W.bias)
        nn.init.normal_(self.h, std=(2.0 / (attention_size + 1)) ** 0.5)

    def weights(self, hist: HistoryRows, p: torch.Tensor, q: torch.Tensor,
                pq: torch.Tensor | None = None) -> torch.Tensor:
        """w_ij per (history element, target) [E, T]; ``p`` [E, d] history vectors, ``q`` [G, T, d] the groups'
        target vectors, ``pq`` = p ⊙ q[row] ([E, T, d]) when the caller has it already (``prod``)."""
        if self.kind == "mean":
            keep = hist.keep.float()
            return keep / hist.lengths().clamp_min(1.0)[hist.row]
        if self.kind == "prod":
            hidden = self.W(pq if pq is not None else p.unsqueeze(1) * q[hist.row])
        else:
            d = p.shape[1]
            hidden = F.linear(p, self.W.weight[:, :d]).unsqueeze(1) + \
                F.linear(q, self.W.weight[:, d:], self.W.bias)[hist.row]
        logits = F.relu(hidden) @ self.h
        logits = torch.where(hist.keep, logits, torch.full_like(logits, -torch.inf))
        return smoothed_softmax(logits, hist.row, hist.n_rows, self.beta)

    def penalty(self) -> torch.Tensor:
        """‖W‖² (NAIS regularises the attention weights with its third λ)."""
        return self.W.weight.pow(2).sum() if self.kind != "mean" else torch.zeros(())
