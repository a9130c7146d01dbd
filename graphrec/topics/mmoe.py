"""MTL's multimodal multi-task representation learner (Pu et al., "Multimodal Topic Learning for Video
Recommendation", §III-A1): a Multi-gate Mixture-of-Experts (Ma et al., KDD 2018) over a video's title and
cover-image features, trained on the primary-class, secondary-class and tag classification tasks.

Eq. 1:  z = [f_C(x_I), f_T(x_W)],   f^k(z) = Σ_{i=1}^{H} g^k(z)_i f_i(z),   p^k = h^k(f^k(z)),  k = 1..N,
with H expert networks f_i, one softmax gate g^k per task (Σ_i g^k(z)_i = 1) and one tower h^k per task giving a
distribution p^k over that task's M^k classes. Eq. 2:  L = −Σ_k Σ_j y^k_j log p^k_j, per video, with y^k the
binary label vector (one 1 for a class task, one per tag for the tag task); a video without a label for task k
(unknown class, no tags) adds nothing to that task's term. Terms are averaged over the videos of a batch.

Deviation: the paper fine-tunes a pre-trained Inception-ResNet-v2 (f_C) and BERT (f_T) end to end. Here the
pre-trained encoders are frozen feature extractors run once (image features of the dataset; text features by
``graphrec.data.text_features``) and f_C, f_T are their trainable top layers: one Linear → ReLU per modality
over the standardised features, fine-tuned by eq. 2. z — the input of the experts, the paper's "deep joint
representation" — is what ``representation`` returns. Experts are one-hidden-layer ReLU MLPs evaluated
together as batched matrix products; towers are one-hidden-layer MLPs.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from graphrec.models.layers.mlp import mlp


class MMoE(nn.Module):
    def __init__(self, input_dims: dict[str, int], task_sizes: Sequence[int], experts: int = 12,
                 adapter_dim: int = 64, expert_dim: int = 64, expert_hidden: int = 128, tower_hidden: int = 64,
                 dropout: float = 0.1):
        super().__init__()
        self.modalities = sorted(input_dims)
        self.adapters = nn.ModuleDict({m: nn.Sequential(nn.Linear(input_dims[m], adapter_dim), nn.ReLU())
                                       for m in self.modalities})
        z_dim = adapter_dim * len(self.modalities)
        self.dropout = nn.Dropout(dropout)
        self.w1 = nn.Parameter(torch.randn(experts, z_dim, expert_hidden) / z_dim ** 0.5)
        self.b1 = nn.Parameter(torch.zeros(experts, 1, expert_hidden))
        self.w2 = nn.Parameter(torch.randn(experts, expert_hidden, expert_dim) / expert_hidden ** 0.5)
        self.b2 = nn.Parameter(torch.zeros(experts, 1, expert_dim))
        self.gates = nn.ModuleList([nn.Linear(z_dim, experts) for _ in task_sizes])
        self.towers = nn.ModuleList([mlp([expert_dim, tower_hidden, int(m)], nn.ReLU) for m in task_sizes])

    def representation(self, inputs: dict[str, torch.Tensor]) -> torch.Tensor:
        """z = [f_C(x_I), f_T(x_W)] (eq. 1), modalities in name order."""
        return torch.cat([self.adapters[m](inputs[m]) for m in self.modalities], 1)

    def experts(self, z: torch.Tensor) -> torch.Tensor:
        """f_i(z) for every expert: [H, B, expert_dim]."""
        h = torch.relu(torch.baddbmm(self.b1, z.expand(self.w1.shape[0], *z.shape), self.w1))
        return torch.baddbmm(self.b2, h, self.w2)

    def gate_weights(self, z: torch.Tensor) -> torch.Tensor:
        """g^k(z) for every task: [N, B, H], each row a softmax over the experts."""
        return torch.stack([torch.softmax(g(z), -1) for g in self.gates])

    def forward(self, inputs: dict[str, torch.Tensor]) -> list[torch.Tensor]:
        """Logits of p^k for each task k (eq. 1)."""
        z = self.dropout(self.representation(inputs))
        experts = self.experts(z)  # [H, B, e]
        gates = self.gate_weights(z)  # [N, B, H]
        mixed = torch.einsum("nbh,hbe->nbe", gates, experts)
        return [tower(mixed[k]) for k, tower in enumerate(self.towers)]


def task_loss(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """−Σ_j y_j log p_j per video (eq. 2), p = softmax(logits), ``targets`` a 0/1 matrix; mean over the videos
    with at least one label (0 when none has)."""
    has = targets.sum(1) > 0
    if not has.any():
        return logits.sum() * 0.0
    logp = torch.log_softmax(logits[has], -1)
    return -(targets[has] * logp).sum(1).mean()
