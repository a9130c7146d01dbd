"""BM3: bootstrap latent representations for multi-modal recommendation (Zhou et al., WWW 2023).

No negative samples and no auxiliary graph: ``sampling = "positive"`` (batches of training pairs only).

- Encoder (contrastive view generator's online side): LightGCN over Â = D^-1/2 A D^-1/2 of the training
  graph, h = mean_{l=0..L} Â^l e (layer mean including the ego layer); items add their ID embedding e_i to the
  readout, h_i = mean_l (Â^l e)_i + e_i.
- Multi-modal latent space convertor: h_i^m = x_i^m W_m + b_m per modality m.
- Target views: ĥ = sg(dropout_p(h)) for users, items and each h^m (the "latent embedding dropout"), predictor
  h̃ = f_p(h) = h W_p + b_p, shared by IDs and modalities.
- Multi-modal contrastive loss, with C(a, b) = 1 − cos(a, sg(b)) averaged over the batch of (u, i) pairs:
    L_rec   = C(h̃_u, ĥ_i) + C(h̃_i, ĥ_u)                  (graph reconstruction)
    L_align = Σ_m C(f_p(h_i^m), ĥ_i)                        (inter-modality alignment)
    L_mask  = Σ_m C(f_p(h_i^m), ĥ_i^m)                      (intra-modality masked-feature alignment)
    L = L_rec + λ_cl (L_align + L_mask) + λ_reg (‖H_U‖_F + ‖H_I‖_F) / |I|.
- Score: s(u, i) = ⟨h̃_u, h̃_i⟩ (both through the predictor).

Deviations and sources. The paper's full text was not available here (its abstract and figure caption were);
the terms above follow their names there and the official code (MMRec ``models/bm3.py``, by the authors), which
also fixes three details the abstract does not: the item residual e_i, the regulariser (unsquared Frobenius
norms of the final user and item tables divided by the number of items, RecBole's ``EmbLoss``), and trainable
raw features (``nn.Embedding.from_pretrained(freeze=False)``; ``tune_features``). The dropout masks here are
drawn for the batch's rows, the official code draws them on the whole table and then gathers: each row's mask
has the same distribution; a user twice in one batch gets two masks here, one there. The official code runs the
predictor and the modality projections over every user and item each step; here only the batch's rows (same
values, less work). TikTok has no text feature: use visual + acoustic (MMRec users do the same).
"""

from __future__ import annotations

import torch
from torch import nn

from graphrec.graphs.store import GraphSpec
from graphrec.models.base import Recommender
from graphrec.models.layers.bootstrap import cosine_distance, dropout_view
from graphrec.models.layers.itemgraph import ModalityProjections
from graphrec.models.ranking.lightgcn import light_propagation


class BM3(Recommender):
    sampling = "positive"

    def __init__(self, n_users: int, n_items: int, features: dict[str, torch.Tensor], embedding_dim: int = 64,
                 n_layers: int = 1, dropout: float = 0.5, reg_weight: float = 0.1, cl_weight: float = 2.0,
                 tune_features: bool = True):
        super().__init__(n_users, n_items)
        self.register_features(features)
        self.embedding = nn.Parameter(torch.empty(n_users + n_items, embedding_dim))
        nn.init.xavier_uniform_(self.embedding[:n_users])
        nn.init.xavier_uniform_(self.embedding[n_users:])
        self.predictor = nn.Linear(embedding_dim, embedding_dim)
        nn.init.xavier_normal_(self.predictor.weight)
        self.content = ModalityProjections(features, embedding_dim, tune_features, init=nn.init.xavier_normal_)
        self.n_layers, self.dropout = int(n_layers), float(dropout)
        self.reg_weight, self.cl_weight = float(reg_weight), float(cl_weight)

    def graph_specs(self) -> dict[str, GraphSpec]:
        return {"adj": GraphSpec("bipartite", {"norm": "symmetric"})}

    def encode(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Online (h_U, h_I): layer-mean LightGCN, items plus their ID embedding."""
        out = light_propagation(self.graphs["adj"], self.embedding, self.n_layers)
        return out[: self.n_users], out[self.n_users:] + self.embedding[self.n_users:]

    def embeddings(self) -> tuple[torch.Tensor, torch.Tensor]:
        users, items = self.encode()
        return self.predictor(users), self.predictor(items)

    def loss(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        all_users, all_items = self.encode()
        items = batch["pos"]
        h_u, h_i = all_users[batch["user"]], all_items[items]
        target_u, target_i = dropout_view(h_u, self.dropout), dropout_view(h_i, self.dropout)
        terms = {"rec": cosine_distance(self.predictor(h_u), target_i)
                 + cosine_distance(self.predictor(h_i), target_u)}
        align = mask = h_u.new_zeros(())
        for m in self.modalities:
            h_m = self.content(m, items)
            online = self.predictor(h_m)
            align = align + cosine_distance(online, target_i)
            mask = mask + cosine_distance(online, dropout_view(h_m, self.dropout))
        terms["align"] = self.cl_weight * align
        terms["mask"] = self.cl_weight * mask
        terms["reg"] = self.reg_weight * (all_users.norm() + all_items.norm()) / self.n_items
        return terms
