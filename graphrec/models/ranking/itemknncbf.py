"""ItemKNNCBF: content-based item k-nearest neighbours (Dacrema et al., "Are We Really Making Much Progress?",
RecSys 2019; MMRec's ``ItemKNNCBF`` baseline).

No learned weights. From the item features f_i (every modality of the dataset, concatenated in name order):

    s_ij = f_i·f_j / (‖f_i‖ ‖f_j‖ + h)             shrunk cosine (h = ``shrink``)
    S_ij = s_ij if j is among the k most similar items of i, else 0      (k = ``k``, i itself one of them)
    score(u, j) = Σ_{i ∈ R_u} S_ij                 R_u: u's training items

S is a top-k sparse graph built in tiles (``graphrec.graphs.knn``, never a dense N×N matrix) and cached by the
GraphStore; scores of a user block are Sᵀ times the block's interaction indicator columns.

Deviations: MMRec keeps the top-k of each full similarity row, the diagonal included; here the item itself is
always one of its k (weight 1) and the other k − 1 are its most similar items. They differ only when a longer,
near-parallel vector outranks an item's own shrunk self-similarity, and the diagonal never reaches a ranked
score (it scores the user's own training items, which evaluation masks). MMRec concatenates the visual and
textual features only; this uses every modality the dataset has (``dataset.modalities`` selects).
One unused scalar parameter keeps the trainer's optimiser contract; the config trains one epoch of zero loss.
"""

from __future__ import annotations

import torch
from torch import nn

from graphrec.errors import ConfigError
from graphrec.graphs.sparse import SparseGraph
from graphrec.graphs.store import GraphSpec
from graphrec.models.base import Recommender


class ItemKNNCBF(Recommender):
    learns = False
    def __init__(self, n_users: int, n_items: int, features: dict[str, torch.Tensor], k: int = 10,
                 shrink: float = 10.0):
        super().__init__(n_users, n_items)
        if not features:
            raise ConfigError("model ItemKNNCBF needs item features, and the dataset has none "
                              "(choose a dataset with features, or dataset.modalities)")
        if k < 1 or shrink < 0:
            raise ConfigError(f"model.k must be ≥ 1 and model.shrink ≥ 0 (got k={k}, shrink={shrink})")
        self.modalities = sorted(features)
        self.k, self.shrink = int(k), float(shrink)
        self.unused = nn.Parameter(torch.zeros(()))  # nothing is learned (module docstring)

    def graph_specs(self) -> dict[str, GraphSpec]:
        return {"interactions": GraphSpec("bipartite", {"norm": "none"}),
                "similar": GraphSpec("knn", {"modality": self.modalities, "k": self.k, "shrink": self.shrink,
                                             "include_self": True})}

    def attach_graphs(self, graphs: dict[str, SparseGraph]) -> None:
        super().attach_graphs(graphs)
        # R: the user rows, item columns of the (users + items)² bipartite adjacency
        self.interactions = graphs["interactions"].block(slice(0, self.n_users), slice(self.n_users, None))

    def loss(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        return self.unused * 0.0

    def _indicator(self, users: torch.Tensor) -> torch.Tensor:
        """``[n_items, B]``: column b is 1 at the training items of ``users[b]``."""
        crow, col = self.interactions.crow, self.interactions.col
        start, count = crow[users], crow[users + 1] - crow[users]
        column = torch.repeat_interleave(torch.arange(users.numel(), device=users.device), count)
        first = torch.repeat_interleave(start - (torch.cumsum(count, 0) - count), count)
        entry = first + torch.arange(int(count.sum()), device=users.device)
        out = torch.zeros(self.n_items, users.numel(), device=users.device)
        out[col[entry], column] = 1.0
        return out

    def score(self, users: torch.Tensor, items: torch.Tensor | None = None) -> torch.Tensor:
        full = (self.graphs["similar"].t() @ self._indicator(users)).T
        if items is None:
            return full
        if items.dim() == 1:
            return full.gather(1, items.unsqueeze(1)).squeeze(1)
        return full.gather(1, items)
