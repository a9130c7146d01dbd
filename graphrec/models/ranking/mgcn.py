"""MGCN: multi-view graph convolutional network for multimedia recommendation (Yu et al., MM 2023).

- Behaviour-guided purifier: per modality m, the projected feature x̃_i^m = W_m x_i^m + b_m gates the item's ID
  embedding, ẽ_i^m = e_i ⊙ σ(G_m x̃_i^m + g_m): only what the behaviour embedding also carries passes.
- User–item view: LightGCN layer mean over Â = D^-1/2 A D^-1/2 (``n_ui_layers``, ego layer included): h^id.
- Item–item view: per modality the frozen kNN graph S_m of the raw features (top-k cosine similarities,
  the item itself among them, weighted, normalised a_ij / sqrt(r_i r_j)); ē^m_I = S_m^L ẽ^m, and users
  aggregate it through the normalised interaction block R̂ = Â[U, I]: ē^m_U = R̂ ē^m_I.
- Behaviour-aware fuser: attention α_m = softmax_m(qᵀ tanh(W ē^m + b)), common part c = Σ_m α_m ē^m, specific
  parts s^m = ē^m − c gated by the behaviour preference p^m = σ(P_m h^id + b): the side view
  h^mm = (Σ_m p^m ⊙ s^m + c) / (M + 1); final h = h^id + h^mm, s(u, i) = ⟨h_u, h_i⟩.
- Loss: BPR + λ · ½(‖h_u‖² + ‖h_i‖² + ‖h_j‖²)/B on the final rows + λ_cl [InfoNCE(h^mm_i, h^id_i) +
  InfoNCE(h^mm_u, h^id_u)] over the batch's positives and users (in-batch negatives, τ = 0.2).

Deviations: the official code (MMRec ``models/mgcn.py``) divides the regulariser by the configured batch size
(also for a short last batch), here by the batch's own size; it decays the learning rate by 0.96 every 50 epochs
(graphrec's trainer has no scheduler; on TikTok runs stop well before 100 epochs, where the decay is < 4%).
The raw features are trainable as there (``nn.Embedding.from_pretrained(freeze=False)``); the kNN graphs are
built once from their initial values. It is written for two modalities (image, text); this takes any number
(the M + 1 divisor and the softmax run over the dataset's modalities). TikTok has no text: visual + acoustic.
"""

from __future__ import annotations

import torch
from torch import nn

from graphrec.graphs.sparse import SparseGraph
from graphrec.graphs.store import GraphSpec
from graphrec.losses import bpr_loss, info_nce, l2_regularization, pairwise_scores
from graphrec.models.base import Recommender
from graphrec.models.layers.itemgraph import ModalityProjections, modality_knn_spec
from graphrec.models.ranking.lightgcn import light_propagation


def sigmoid_gate(dim: int) -> nn.Sequential:
    """x ↦ σ(W x + b)."""
    return nn.Sequential(nn.Linear(dim, dim), nn.Sigmoid())


class MGCN(Recommender):
    def __init__(self, n_users: int, n_items: int, features: dict[str, torch.Tensor], embedding_dim: int = 64,
                 knn_k: int = 10, n_layers: int = 1, n_ui_layers: int = 2, reg_weight: float = 1e-4,
                 cl_weight: float = 0.01, temperature: float = 0.2, tune_features: bool = True):
        super().__init__(n_users, n_items)
        self.register_features(features)
        self.embedding = nn.Parameter(torch.empty(n_users + n_items, embedding_dim))
        nn.init.xavier_uniform_(self.embedding[:n_users])
        nn.init.xavier_uniform_(self.embedding[n_users:])
        self.content = ModalityProjections(features, embedding_dim, tune_features, init=None)
        self.purifier = nn.ModuleDict({m: sigmoid_gate(embedding_dim) for m in self.modalities})
        self.preference = nn.ModuleDict({m: sigmoid_gate(embedding_dim) for m in self.modalities})
        self.query = nn.Sequential(nn.Linear(embedding_dim, embedding_dim), nn.Tanh(),
                                   nn.Linear(embedding_dim, 1, bias=False))
        self.knn_k, self.n_layers, self.n_ui_layers = int(knn_k), int(n_layers), int(n_ui_layers)
        self.reg_weight, self.cl_weight, self.temperature = float(reg_weight), float(cl_weight), float(temperature)

    def graph_specs(self) -> dict[str, GraphSpec]:
        specs = {"adj": GraphSpec("bipartite", {"norm": "symmetric"})}
        specs.update({f"knn_{m}": modality_knn_spec(m, self.knn_k, binary=False) for m in self.modalities})
        return specs

    def attach_graphs(self, graphs: dict[str, SparseGraph]) -> None:
        super().attach_graphs(graphs)
        self.interactions = graphs["adj"].block(slice(0, self.n_users), slice(self.n_users, None))

    def views(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(h^id, h^mm), each ``[n_users + n_items, d]``, users first."""
        behaviour = light_propagation(self.graphs["adj"], self.embedding, self.n_ui_layers)
        item_ids = self.embedding[self.n_users:]
        modal = []
        for m in self.modalities:
            items = item_ids * self.purifier[m](self.content(m))
            for _ in range(self.n_layers):
                items = self.graphs[f"knn_{m}"] @ items
            modal.append(torch.cat([self.interactions @ items, items]))
        stacked = torch.stack(modal)                                  # [M, N, d]
        attention = torch.softmax(self.query(stacked), dim=0)         # [M, N, 1]
        common = (attention * stacked).sum(0)
        specific = sum(self.preference[m](behaviour) * (stacked[k] - common) for k, m in enumerate(self.modalities))
        return behaviour, (specific + common) / (len(self.modalities) + 1)

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
