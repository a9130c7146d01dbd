"""What MGCN and SMORE share: a behaviour view, behaviour-purified modality views on item–item graphs, and the
loss that ties them.

- Behaviour view h^id: LightGCN layer mean over Â = D^-1/2 A D^-1/2 (``n_ui_layers``, ego layer included).
- Purifier: a modality signal z_i gates the item's ID embedding, ẽ_i = e_i ⊙ σ(G z_i + g).
- Item-graph view of purified item vectors: ē_I = S^L ẽ (S a frozen item–item graph), users through the normalised
  interaction block R̂ = Â[U, I]: ē_U = R̂ ē_I; the view is [ē_U; ē_I].
- Final h = h^id + h^mm (the model's side view); s(u, i) = ⟨h_u, h_i⟩.
- Loss: BPR + λ · ½(‖h_u‖² + ‖h_i‖² + ‖h_j‖²)/B on the final rows + λ_cl [InfoNCE(h^mm_i, h^id_i) +
  InfoNCE(h^mm_u, h^id_u)] over the batch's positives and users (in-batch negatives, temperature τ).
"""

from __future__ import annotations

import torch
from torch import nn

from graphrec.graphs.sparse import SparseGraph
from graphrec.losses import bpr_loss, info_nce, l2_regularization, pairwise_scores
from graphrec.models.base import Recommender
from graphrec.models.layers.itemgraph import ModalityProjections
from graphrec.models.ranking.lightgcn import light_propagation


def sigmoid_gate(dim: int) -> nn.Sequential:
    """x ↦ σ(W x + b)."""
    return nn.Sequential(nn.Linear(dim, dim), nn.Sigmoid())


class PurifiedViewsRecommender(Recommender):
    """Subclasses define ``graph_specs`` (``adj`` and their item graphs) and ``side_view(behaviour)``."""

    def __init__(self, n_users: int, n_items: int, features: dict[str, torch.Tensor], embedding_dim: int,
                 n_layers: int, n_ui_layers: int, reg_weight: float, cl_weight: float, temperature: float,
                 tune_features: bool):
        super().__init__(n_users, n_items)
        self.register_features(features)
        self.embedding = nn.Parameter(torch.empty(n_users + n_items, embedding_dim))
        nn.init.xavier_uniform_(self.embedding[:n_users])
        nn.init.xavier_uniform_(self.embedding[n_users:])
        self.content = ModalityProjections(features, embedding_dim, tune_features, init=None)
        self.n_layers, self.n_ui_layers = int(n_layers), int(n_ui_layers)
        self.reg_weight, self.cl_weight, self.temperature = float(reg_weight), float(cl_weight), float(temperature)

    def attach_graphs(self, graphs: dict[str, SparseGraph]) -> None:
        super().attach_graphs(graphs)
        self.interactions = graphs["adj"].block(slice(0, self.n_users), slice(self.n_users, None))

    def purified(self, gate: nn.Module, signal: torch.Tensor) -> torch.Tensor:
        """ẽ = e_I ⊙ gate(signal)."""
        return self.embedding[self.n_users:] * gate(signal)

    def item_graph_view(self, graph: SparseGraph, items: torch.Tensor) -> torch.Tensor:
        """[R̂ S^L ẽ; S^L ẽ]."""
        for _ in range(self.n_layers):
            items = graph @ items
        return torch.cat([self.interactions @ items, items])

    def side_view(self, behaviour: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def views(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(h^id, h^mm), each ``[n_users + n_items, d]``, users first."""
        behaviour = light_propagation(self.graphs["adj"], self.embedding, self.n_ui_layers)
        return behaviour, self.side_view(behaviour)

    def node_embeddings(self, rows: torch.Tensor | None = None) -> torch.Tensor:
        behaviour, side = self.views()
        out = behaviour + side
        return out if rows is None else out[rows]

    def loss(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        behaviour, side = self.views()
        final = behaviour + side
        u, i, j = self.split_pairwise_rows(final[self.pairwise_node_rows(batch)], batch)
        users, items = batch["user"], batch["pos"] + self.n_users
        contrast = info_nce(side[items], behaviour[items], self.temperature) \
            + info_nce(side[users], behaviour[users], self.temperature)
        return {"bpr": bpr_loss(*pairwise_scores(u, i, j)),
                "reg": self.reg_weight * l2_regularization(u, i, j),
                "cl": self.cl_weight * contrast}
