"""MGCN: multi-view graph convolutional network for multimedia recommendation (Yu et al., MM 2023).

The behaviour view, purifier, item-graph views and loss are ``graphrec.models.layers.purified_views``:
- Behaviour-guided purifier: per modality m, the projected feature x̃_i^m = W_m x_i^m + b_m gates the item's ID
  embedding, ẽ_i^m = e_i ⊙ σ(G_m x̃_i^m + g_m): only what the behaviour embedding also carries passes.
- User–item view: LightGCN layer mean (``n_ui_layers``): h^id.
- Item–item view: per modality the frozen kNN graph S_m of the raw features (top-k cosine similarities,
  the item itself among them, weighted, normalised a_ij / sqrt(r_i r_j)); ē^m = [R̂ S_m^L ẽ^m; S_m^L ẽ^m].
- Behaviour-aware fuser: attention α_m = softmax_m(qᵀ tanh(W ē^m + b)), common part c = Σ_m α_m ē^m, specific
  parts s^m = ē^m − c gated by the behaviour preference p^m = σ(P_m h^id + b): the side view
  h^mm = (Σ_m p^m ⊙ s^m + c) / (M + 1); final h = h^id + h^mm, s(u, i) = ⟨h_u, h_i⟩.
- Loss: BPR + λ · ½(‖h_u‖² + ‖h_i‖² + ‖h_j‖²)/B + λ_cl [InfoNCE(h^mm_i, h^id_i) + InfoNCE(h^mm_u, h^id_u)],
  in-batch negatives, τ = 0.2.

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

from graphrec.graphs.store import GraphSpec
from graphrec.models.layers.itemgraph import modality_knn_spec
from graphrec.models.layers.purified_views import PurifiedViewsRecommender, sigmoid_gate


class MGCN(PurifiedViewsRecommender):
    def __init__(self, n_users: int, n_items: int, features: dict[str, torch.Tensor], embedding_dim: int = 64,
                 knn_k: int = 10, n_layers: int = 1, n_ui_layers: int = 2, reg_weight: float = 1e-4,
                 cl_weight: float = 0.01, temperature: float = 0.2, tune_features: bool = True):
        super().__init__(n_users, n_items, features, embedding_dim, n_layers, n_ui_layers, reg_weight, cl_weight,
                         temperature, tune_features)
        self.purifier = nn.ModuleDict({m: sigmoid_gate(embedding_dim) for m in self.modalities})
        self.preference = nn.ModuleDict({m: sigmoid_gate(embedding_dim) for m in self.modalities})
        self.query = nn.Sequential(nn.Linear(embedding_dim, embedding_dim), nn.Tanh(),
                                   nn.Linear(embedding_dim, 1, bias=False))
        self.knn_k = int(knn_k)

    def graph_specs(self) -> dict[str, GraphSpec]:
        specs = {"adj": GraphSpec("bipartite", {"norm": "symmetric"})}
        specs.update({f"knn_{m}": modality_knn_spec(m, self.knn_k, binary=False) for m in self.modalities})
        return specs

    def side_view(self, behaviour: torch.Tensor) -> torch.Tensor:
        stacked = torch.stack([self.item_graph_view(self.graphs[f"knn_{m}"],
                                                    self.purified(self.purifier[m], self.content(m)))
                               for m in self.modalities])                # [M, N, d]
        attention = torch.softmax(self.query(stacked), dim=0)             # [M, N, 1]
        common = (attention * stacked).sum(0)
        specific = sum(self.preference[m](behaviour) * (stacked[k] - common) for k, m in enumerate(self.modalities))
        return (specific + common) / (len(self.modalities) + 1)
