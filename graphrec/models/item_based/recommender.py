"""The base of item-based pointwise models (FISM, NAIS, IRIS): a user is the set of their training items.

Subclasses implement ``score_rows(users [G], items [G, T]) -> logits [G, T]`` over flattened histories
(``graphrec.models.layers.history``) and ``regularization()``; this base turns that into the ``Recommender``
contract: ``score`` for any shape of candidates (in chunks of at most ``max_elements`` history elements, so
ranking 100 candidates of 1,000 users never holds 100 × Σ|R⁺_u| elements at once) and the pointwise log loss
of NAIS eq. 9 over a positive and its ``n_negatives`` sampled negatives (a pointwise batch lists each positive
followed by its negatives, so it reshapes to groups of one user and ``n_negatives + 1`` targets).
"""

from __future__ import annotations

import torch

from graphrec.errors import ConfigError
from graphrec.graphs.sparse import SparseGraph
from graphrec.graphs.store import GraphSpec
from graphrec.losses import bce_loss
from graphrec.models.base import Recommender
from graphrec.models.layers.history import UserHistory


class ItemBasedRecommender(Recommender):
    sampling = "pointwise"

    def __init__(self, n_users: int, n_items: int, n_negatives: int = 4, max_elements: int = 4_000_000):
        super().__init__(n_users, n_items)
        self.n_negatives = int(n_negatives)
        self.max_elements = int(max_elements)
        self.history: UserHistory | None = None

    def graph_specs(self) -> dict[str, GraphSpec]:
        return {"interactions": GraphSpec("bipartite", {"norm": "none"})}

    def attach_graphs(self, graphs: dict[str, SparseGraph]) -> None:
        super().attach_graphs(graphs)
        self.history = UserHistory(graphs["interactions"], self.n_users)

    def score_rows(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def regularization(self) -> torch.Tensor:
        raise NotImplementedError

    def score(self, users: torch.Tensor, items: torch.Tensor | None = None) -> torch.Tensor:
        if self.history is None:
            raise RuntimeError(f"{type(self).__name__}: attach_graphs() was not called")
        if items is None:
            items = torch.arange(self.n_items, device=users.device).expand(users.numel(), -1)
        if items.dim() == 1:
            return self.score(users, items.unsqueeze(1)).squeeze(1)
        return torch.cat([self.score_rows(users[s], items[s])
                          for s in self.history.row_chunks(users, self.max_elements, items.shape[1])])

    def loss(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        group = self.n_negatives + 1
        items = batch["item"].view(-1, group)
        logits = self.score_rows(batch["user"].view(-1, group)[:, 0], items)
        return {"log": bce_loss(logits.reshape(-1), batch["label"]), "reg": self.regularization()}

    def load_pretrained(self, name: str, state: dict[str, torch.Tensor]) -> None:
        """``pretrained_fism``: the item tables P, Q and item biases of a trained FISM (NAIS' pre-training)."""
        if name != "fism":
            raise ConfigError(f"model.pretrained_{name}: {type(self).__name__} pre-trains from FISM only "
                              "(model.pretrained_fism)")
        with torch.no_grad():
            for key in ("P", "Q", "item_bias"):
                target = getattr(self, key)
                if key not in state or state[key].shape != target.shape:
                    raise ConfigError(f"model.pretrained_fism: the checkpoint has no FISM '{key}' of shape "
                                      f"{tuple(target.shape)} (is it a FISM of this dataset with this embedding_dim?)")
                target.copy_(state[key])
