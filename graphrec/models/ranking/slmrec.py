"""SLMRec: self-supervised learning for multimedia recommendation (Tao et al., IEEE TMM 2022).

Views v ∈ {id, m_1, …, m_M}: each is LightGCN (layer mean over l = 0..L, Â = D^-1/2 A D^-1/2) on
[E_U; X_v], the users' ID table shared by every view, X_id = E_I, X_m = W_m normalize(x^m) + b_m. Fusion:
h_u = F_U [h_u^id ‖ h_u^m1 ‖ …], h_i = F_I [h_i^id ‖ h_i^m1 ‖ …] (linear maps of the concatenation); s(u, i) =
⟨h_u, h_i⟩. Main task: in-batch InfoNCE of normalised users against their positives (τ = ``temperature``), no
sampled negatives (``sampling = "positive"``). Plus λ_ssl times one self-supervised task (``ssl_task``):
- ``fac`` (fine and coarse, the official default): a chain of linear maps from the item's ID view; modality k
  meets it in its own space, z_0 = g_0(h_i^id), z_k = g_k(z_{k−1}) for k ≥ 1, loss Σ_k CE(⟨z_k, g'_k(h_i^mk)⟩/τ_s)
  over the batch's items (raw inner products, in-batch); the first modality in ``fac_order`` (visual) meets at
  d (fine), the last at d/2 (coarse), those between at d.
- ``fd`` (feature dropout): two forward passes with dropout after every propagation layer; InfoNCE (τ_s) between
  the two passes' fused users and between their fused items.
- ``fm`` (feature masking): two passes, each with one view's item input zeroed (two different views drawn at
  random per step); InfoNCE as in ``fd``. ``fd+fm``: masking with dropout.

Deviations from the official code (MMRec ``models/slmrec.py``): its FD / FM branches read a config key MMRec
does not define and an audio projection it never builds, so only FAC runs there; here all three do. In FD / FM it
appends each branch's propagated layers to the other branch's list (the layer mean of pass 1 holds pass 1's ego
layer and pass 2's propagated layers); here each pass keeps its own layers. Its FAC chain has an audio step that
is commented out (three modalities meet at d, –, d/2); here every modality in ``fac_order`` gets its step. Its
``reg`` hyper-parameter is read by nothing (the optimiser's weight decay, 1e-4, is the regulariser): it is not
here either; set ``trainer.weight_decay`` (the preset does). Scores are ⟨h_u, h_i⟩; the official code returns
σ(⟨h_u, h_i⟩), the same ranking. TikTok has no text: visual (fine) and acoustic (coarse).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from graphrec.errors import ConfigError
from graphrec.graphs.store import GraphSpec
from graphrec.losses import in_batch_softmax, info_nce
from graphrec.models.base import Recommender
from graphrec.models.ranking.lightgcn import light_propagation

SSL_TASKS = ("fac", "fd", "fm", "fd+fm")
FAC_ORDER = ("visual", "acoustic", "textual")


class SLMRec(Recommender):
    sampling = "positive"

    def __init__(self, n_users: int, n_items: int, features: dict[str, torch.Tensor], embedding_dim: int = 64,
                 n_layers: int = 3, temperature: float = 0.2, ssl_task: str = "fac", ssl_weight: float = 0.1,
                 ssl_temperature: float = 0.2, dropout: float = 0.3):
        super().__init__(n_users, n_items)
        if ssl_task not in SSL_TASKS:
            raise ConfigError(f"model.ssl_task: must be one of {', '.join(SSL_TASKS)}, got '{ssl_task}'")
        self.register_features(features)
        d = embedding_dim
        self.embedding = nn.Parameter(torch.empty(n_users + n_items, d))
        nn.init.xavier_uniform_(self.embedding[:n_users])
        nn.init.xavier_uniform_(self.embedding[n_users:])
        self.project = nn.ModuleDict({m: self._linear(f.shape[1], d) for m, f in features.items()})
        width = d * (1 + len(self.modalities))
        self.fuse_users, self.fuse_items = self._linear(width, d), self._linear(width, d)
        self.fac_order = sorted(self.modalities, key=lambda m: (FAC_ORDER.index(m) if m in FAC_ORDER else 9, m))
        dims = [d] * len(self.fac_order)
        if len(dims) > 1:
            dims[-1] = d // 2
        self.chain = nn.ModuleList(self._linear(d if k == 0 else dims[k - 1], dims[k]) for k in range(len(dims)))
        self.meet = nn.ModuleDict({m: self._linear(d, dims[k]) for k, m in enumerate(self.fac_order)})
        self.n_layers, self.temperature, self.ssl_task = int(n_layers), float(temperature), ssl_task
        self.ssl_weight, self.ssl_temperature, self.dropout = float(ssl_weight), float(ssl_temperature), float(dropout)

    @staticmethod
    def _linear(n_in: int, n_out: int) -> nn.Linear:
        layer = nn.Linear(n_in, n_out)
        nn.init.xavier_uniform_(layer.weight)
        return layer

    def graph_specs(self) -> dict[str, GraphSpec]:
        return {"adj": GraphSpec("bipartite", {"norm": "symmetric"})}

    def item_inputs(self) -> list[torch.Tensor]:
        """X_v per view: the ID table, then W_m normalize(x^m) + b_m per modality."""
        return [self.embedding[self.n_users:]] + \
            [self.project[m](F.normalize(self.feature(m), dim=1)) for m in self.modalities]

    def propagate(self, items: torch.Tensor, dropout: float = 0.0) -> torch.Tensor:
        """Layer mean of [E_U; X_v] over Â, with dropout after every layer when ``dropout`` > 0."""
        x = torch.cat([self.embedding[: self.n_users], items])
        if dropout == 0.0:
            return light_propagation(self.graphs["adj"], x, self.n_layers)
        total = x
        for _ in range(self.n_layers):
            x = F.dropout(self.graphs["adj"] @ x, dropout, training=True)
            total = total + x
        return total / (self.n_layers + 1)

    def fused(self, views: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        table = torch.cat(views, dim=1)
        return self.fuse_users(table[: self.n_users]), self.fuse_items(table[self.n_users:])

    def embeddings(self) -> tuple[torch.Tensor, torch.Tensor]:
        return self.fused([self.propagate(x) for x in self.item_inputs()])

    def fine_and_coarse(self, views: list[torch.Tensor], items: torch.Tensor) -> torch.Tensor:
        by_modality = dict(zip(self.modalities, views[1:]))
        z, loss = views[0][self.n_users + items], views[0].new_zeros(())
        for step, m in zip(self.chain, self.fac_order):
            z = step(z)
            loss = loss + in_batch_softmax(z, self.meet[m](by_modality[m][self.n_users + items]), self.ssl_temperature)
        return loss

    def two_pass_contrast(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        inputs = self.item_inputs()
        dropout = self.dropout if "fd" in self.ssl_task else 0.0
        masked = torch.randperm(len(inputs))[:2].tolist() if "fm" in self.ssl_task else [None, None]
        passes = []
        for hide in masked:
            views = [self.propagate(torch.zeros_like(x) if k == hide else x, dropout) for k, x in enumerate(inputs)]
            passes.append(self.fused(views))
        (u1, i1), (u2, i2) = passes
        return info_nce(u1[users], u2[users], self.ssl_temperature) \
            + info_nce(i1[items], i2[items], self.ssl_temperature)

    def loss(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        users, items = batch["user"], batch["pos"]
        views = [self.propagate(x) for x in self.item_inputs()]
        all_users, all_items = self.fused(views)
        main = info_nce(all_users[users], all_items[items], self.temperature)
        ssl = self.fine_and_coarse(views, items) if self.ssl_task == "fac" else self.two_pass_contrast(users, items)
        return {"infonce": main, "ssl": self.ssl_weight * ssl}
