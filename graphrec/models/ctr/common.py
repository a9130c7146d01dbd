"""Building blocks shared by the click-through models of ``eval=ctr`` (DIN, MTIN and the paper's baselines).

- ``ItemVectors``: v_i = E_i (+ W x̃_i, x̃ the item's standardised features, every modality concatenated, when
  the dataset has any and ``use_features`` is true); row ``n_items`` is the history padding and maps to 0;
- ``ClickModel``: the ``ctr`` contract. A subclass implements ``forward(batch) -> (logits [B], reg)`` where
  ``reg`` is the squared norm of the embedding rows the batch used divided by the batch size; then
  ``predict(batch)`` are the logits and ``loss(batch)`` is the log loss of every impression's click plus
  λ/2 · reg (the L2 term of MTIN eq. 12 and DIN eq. 6, on the rows a batch touches);
- ``history(batch, branch)``: a branch's item ids, timestamps and length mask ([B, L] each).
"""

from __future__ import annotations

import torch
from torch import nn

from graphrec.losses import bce_loss
from graphrec.models.base import Recommender


class ItemVectors(nn.Module):
    """v_i = E_i + W x̃_i (the second term only with features); index ``n_items`` is padding → 0."""

    def __init__(self, n_items: int, dim: int, features: dict[str, torch.Tensor] | None, use_features: bool):
        super().__init__()
        self.n_items = int(n_items)
        self.emb = nn.Embedding(n_items + 1, dim, padding_idx=n_items)
        nn.init.normal_(self.emb.weight, std=0.01)
        with torch.no_grad():
            self.emb.weight[n_items].zero_()
        self.content = None
        self.modalities: list[str] = []
        if use_features and features:
            self.modalities = sorted(features)
            x = torch.cat([features[m].float() for m in self.modalities], 1)
            x = (x - x.mean(0)) / x.std(0).clamp_min(1e-6)
            self.register_buffer("content_input", torch.cat([x, x.new_zeros(1, x.shape[1])]), persistent=False)
            self.content = nn.Linear(x.shape[1], dim, bias=False)

    def forward(self, items: torch.Tensor) -> torch.Tensor:
        v = self.emb(items)
        if self.content is not None:
            v = v + self.content(self.content_input[items])
        return v

    def describe(self) -> str:
        return f"ID embeddings + a projection of {'+'.join(self.modalities)}" if self.content is not None \
            else "ID embeddings"


def history(batch: dict[str, torch.Tensor], branch: str) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(items, times, mask)`` of the clicked (``pos``) or non-clicked (``neg``) history, oldest first,
    valid entries left-aligned."""
    items = batch[f"{branch}_items"]
    mask = torch.arange(items.shape[1], device=items.device)[None, :] < batch[f"{branch}_lengths"][:, None]
    return items, batch[f"{branch}_times"], mask


def masked_mean(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean over dim 1 of ``x`` [B, L, d] at ``mask`` [B, L]; rows without a valid entry give 0."""
    m = mask.to(x.dtype)[..., None]
    return (x * m).sum(1) / m.sum(1).clamp_min(1.0)


class ClickModel(Recommender):
    """Base of the click-through models: ``forward`` gives logits and the batch's embedding norm."""

    task = "ctr"
    sampling = "pointwise"
    reg_weight: float = 0.0

    def forward(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        raise NotImplementedError

    def predict(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        return self.forward(batch)[0]

    def loss(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        logit, used = self.forward(batch)
        return {"log": bce_loss(logit, batch["label"]), "reg": 0.5 * self.reg_weight * used}

    def init_from_training(self, user: torch.Tensor, item: torch.Tensor, click: torch.Tensor,
                           time: torch.Tensor) -> None:
        """Called once with the training impressions before training (e.g. to pre-train a memory)."""
