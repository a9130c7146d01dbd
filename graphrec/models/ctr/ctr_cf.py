"""Collaborative-filtering baselines of MTIN's Table 2 on the ``ctr`` task, scored on each impression's candidate.

- ``BPRClick``: BPR-MF (Rendle et al., UAI 2009), s_ui = ⟨p_u, q_i⟩. Pairs come from the impressions: each
  clicked training impression (u, i) against the user's latest non-clicked item before it (its last H_neg entry;
  a uniformly drawn item when the user has none yet), loss −log σ(s_ui − s_uj) + λ/2 ‖rows‖² / B. The
  non-clicked impressions enter only as those negatives, as in BPR on implicit feedback.
- ``NCFClick``: NeuMF (He et al., WWW 2017; ``graphrec.models.ranking.ncf``) trained pointwise on every impression's
  click, the log loss of eq. 7, on the real non-clicks instead of sampled negatives.
Neither reads the histories for its prediction: they are the history-free references of the table.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from graphrec.models.ctr.common import ClickModel
from graphrec.models.ranking.mf import MF
from graphrec.models.ranking.ncf import NeuMF


class BPRClick(ClickModel):
    def __init__(self, n_users: int, n_items: int, embedding_dim: int = 64, reg_weight: float = 1e-4):
        super().__init__(n_users, n_items)
        self.net = MF(n_users, n_items, embedding_dim=embedding_dim, reg_weight=reg_weight)

    def forward(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        u, i = self.net.user_emb(batch["user"]), self.net.item_emb(batch["item"])
        return (u * i).sum(-1), (u.pow(2).sum() + i.pow(2).sum()) / u.shape[0]

    def loss(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """BPR on the clicked impressions against the user's latest earlier non-click (``MF.loss``)."""
        clicked = batch["label"] > 0.5
        lengths = batch["neg_lengths"][clicked]
        latest = batch["neg_items"][clicked].gather(1, (lengths - 1).clamp_min(0)[:, None]).squeeze(1)
        drawn = torch.randint(0, self.n_items, latest.shape, device=latest.device)
        if not clicked.any():
            zero = self.net.user_emb.weight.sum() * 0.0
            return {"bpr": zero, "reg": zero}
        return self.net.loss({"user": batch["user"][clicked], "pos": batch["item"][clicked],
                              "neg": torch.where(lengths > 0, latest, drawn)})


class NCFClick(ClickModel):
    def __init__(self, n_users: int, n_items: int, embedding_dim: int = 32,
                 layers: Sequence[int] = (128, 64, 32), reg_weight: float = 0.0):
        super().__init__(n_users, n_items)
        self.net = NeuMF(n_users, n_items, embedding_dim=embedding_dim, layers=list(layers), reg_weight=reg_weight)

    def predict(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        return self.net.score(batch["user"], batch["item"][:, None])[:, 0]

    def loss(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return self.net.loss(batch)
