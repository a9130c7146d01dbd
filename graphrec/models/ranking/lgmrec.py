"""LGMRec: local and global graph learning for multimodal recommendation (Guo et al., AAAI 2024).

- Collaborative graph embedding (CGE): LightGCN layer mean over Â = D^-1/2 A D^-1/2 (``n_ui_layers``): h^c.
- Modality graph embedding (MGE), per modality m: items x_i^m W_m (no bias, features frozen), users the mean of
  their training items' vectors, then ``n_mm_layers`` propagations over Â (the last layer, not a mean): h^m.
  Local embedding h^l = h^c + Σ_m normalize(h^m).
- Global hypergraph embedding (GHE): K learned hyperedges per modality. Item memberships
  H_I^m = GumbelSoftmax_τ(x^m V_m) ``[n_items, K]``, user memberships H_U^m = GumbelSoftmax_τ(R x^m V_m) (R the
  0/1 interaction matrix), both with dropout (keep rate); ``n_hyper_layers`` of hypergraph message passing on
  the items' collaborative embeddings: Λ = H_Iᵀ E_I, E_I ← H_I Λ, E_U = H_U Λ. h^g = Σ_m [E_U^m; E_I^m];
  final h = h^l + α normalize(h^g), s(u, i) = ⟨h_u, h_i⟩.
- Loss: BPR + λ_cl L_hcl + λ_reg (‖h_u‖ + ‖h_i‖ + ‖h_j‖)/B (unsquared Frobenius norms of the batch's rows),
  L_hcl the cross-modal hyperedge contrast: for users of the batch, anchor E_U^a, positive the same user's E_U^b,
  negatives every user's E_U^b (InfoNCE over the whole table, τ = 0.2, summed over the batch); the same for the
  batch's positive items. For more than two modalities, every pair (a, b) in name order.

The hypergraph is learned from the features at every step (a dense ``[n, K]`` incidence, K ≈ 4), not a fixed
graph: it is model computation, and no graph builder is involved.
Deviation from the official code (MMRec ``models/lgmrec.py``): it draws Gumbel noise also at evaluation, so its
scores change from one evaluation to the next; here evaluation uses the noise-free softmax(x V / τ) (and no
dropout), so scores are deterministic. TikTok has no text: visual + acoustic.
"""

from __future__ import annotations

from itertools import combinations

import torch
import torch.nn.functional as F
from torch import nn

from graphrec.graphs.sparse import SparseGraph
from graphrec.graphs.store import GraphSpec
from graphrec.losses import bpr_loss, info_nce_all, pairwise_scores
from graphrec.models.base import Recommender
from graphrec.models.ranking.lightgcn import light_propagation


class LGMRec(Recommender):
    def __init__(self, n_users: int, n_items: int, features: dict[str, torch.Tensor], embedding_dim: int = 64,
                 n_ui_layers: int = 2, n_mm_layers: int = 2, n_hyper_layers: int = 1, n_hyperedges: int = 4,
                 keep_rate: float = 0.5, alpha: float = 0.3, cl_weight: float = 1e-4, reg_weight: float = 1e-6,
                 temperature: float = 0.2):
        super().__init__(n_users, n_items)
        self.register_features(features)
        self.embedding = nn.Parameter(torch.empty(n_users + n_items, embedding_dim))
        nn.init.xavier_uniform_(self.embedding[:n_users])
        nn.init.xavier_uniform_(self.embedding[n_users:])
        self.transform = nn.ParameterDict({m: nn.Parameter(nn.init.xavier_uniform_(torch.empty(f.shape[1], embedding_dim)))
                                           for m, f in features.items()})
        self.hyper = nn.ParameterDict({m: nn.Parameter(nn.init.xavier_uniform_(torch.empty(f.shape[1], n_hyperedges)))
                                       for m, f in features.items()})
        self.n_ui_layers, self.n_mm_layers, self.n_hyper_layers = int(n_ui_layers), int(n_mm_layers), int(n_hyper_layers)
        self.keep_rate, self.alpha, self.temperature = float(keep_rate), float(alpha), float(temperature)
        self.cl_weight, self.reg_weight = float(cl_weight), float(reg_weight)

    def graph_specs(self) -> dict[str, GraphSpec]:
        return {"adj": GraphSpec("bipartite", {"norm": "symmetric"}), "counts": GraphSpec("bipartite", {"norm": "none"})}

    def attach_graphs(self, graphs: dict[str, SparseGraph]) -> None:
        super().attach_graphs(graphs)
        self.interactions = graphs["counts"].block(slice(0, self.n_users), slice(self.n_users, None))  # 0/1 R
        self.user_mean = self.interactions.degree(1).clamp_min(1.0).reciprocal().unsqueeze(1)

    def memberships(self, logits: torch.Tensor) -> torch.Tensor:
        """Soft hyperedge memberships: Gumbel-softmax and dropout in training, softmax(logits / τ) otherwise."""
        if not self.training:
            return torch.softmax(logits / self.temperature, dim=1)
        return F.dropout(F.gumbel_softmax(logits, tau=self.temperature, dim=1), 1.0 - self.keep_rate)

    def modality_view(self, m: str) -> torch.Tensor:
        """MGE: [users' mean item vector; x^m W_m], propagated ``n_mm_layers`` times over Â."""
        items = self.feature(m) @ self.transform[m]
        x = torch.cat([(self.interactions @ items) * self.user_mean, items])
        for _ in range(self.n_mm_layers):
            x = self.graphs["adj"] @ x
        return x

    def hypergraph_view(self, m: str, item_emb: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """GHE for one modality: (E_U, E_I) after ``n_hyper_layers`` rounds of hyperedge message passing."""
        logits = self.feature(m) @ self.hyper[m]
        h_items = self.memberships(logits)
        h_users = self.memberships(self.interactions @ logits)
        items, users = item_emb, None
        for _ in range(self.n_hyper_layers):
            latent = h_items.T @ items
            items, users = h_items @ latent, h_users @ latent
        return users, items

    def forward_views(self) -> tuple[torch.Tensor, dict[str, tuple[torch.Tensor, torch.Tensor]]]:
        """The final table h (users first) and each modality's hypergraph (E_U, E_I)."""
        collaborative = light_propagation(self.graphs["adj"], self.embedding, self.n_ui_layers)
        if len(self.modalities) < 2 or self.n_hyper_layers == 0:  # the official code falls back to CGE alone
            return collaborative, {}
        local = collaborative + sum(F.normalize(self.modality_view(m), dim=1) for m in self.modalities)
        hyper = {m: self.hypergraph_view(m, collaborative[self.n_users:]) for m in self.modalities}
        global_view = sum(torch.cat([users, items]) for users, items in hyper.values())
        return local + self.alpha * F.normalize(global_view, dim=1), hyper

    def node_embeddings(self, rows: torch.Tensor | None = None) -> torch.Tensor:
        out = self.forward_views()[0]
        return out if rows is None else out[rows]

    def loss(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        final, hyper = self.forward_views()
        u, i, j = self.split_pairwise_rows(final[self.pairwise_node_rows(batch)], batch)
        users, items = batch["user"], batch["pos"]
        contrast = final.new_zeros(())
        for a, b in combinations(self.modalities, 2):
            (ua, ia), (ub, ib) = hyper[a], hyper[b]
            contrast = contrast + info_nce_all(ua[users], ub[users], ub, self.temperature) \
                + info_nce_all(ia[items], ib[items], ib, self.temperature)
        reg = (u.norm() + i.norm() + j.norm()) / u.shape[0]
        return {"bpr": bpr_loss(*pairwise_scores(u, i, j)), "hcl": self.cl_weight * contrast,
                "reg": self.reg_weight * reg}
