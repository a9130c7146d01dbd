"""NGCF: neural graph collaborative filtering (Wang et al., SIGIR 2019).

Matrix form of the embedding propagation (eq. 7):
E^(l) = LeakyReLU_0.2( (L + I) E^(l−1) W1 + b1 + (L E^(l−1) ⊙ E^(l−1)) W2 + b2 ),
with L = D^-1/2 A D^-1/2 the normalised user–item graph; message dropout on E^(l) and optional node dropout on
L (edges kept with probability 1 − p and rescaled by 1/(1 − p)) while training; the prediction (eq. 9–10) is the
inner product of the concatenations [E^(0) ‖ E^(1) ‖ … ‖ E^(L)]. Loss eq. 11: BPR + λ/2 Σ‖·‖²/B.
As in the official code, each layer's output is L2-normalised before concatenation, and the regulariser is
taken on the batch's final (concatenated) embeddings. Defaults are the paper's: three 64-d layers, message
dropout 0.1, λ = 1e-5; node dropout 0 (the official code's ``node_dropout_flag`` is off by default).
In training the last layer runs only on the batch's nodes (``node_embeddings(rows)``), and only their rows are
normalised: TikTok epochs of batch 2048, run alternately with the code before, 2.36 / 2.38 s → 1.51 / 1.81 s.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from graphrec.graphs.sparse import SparseGraph
from graphrec.graphs.store import GraphSpec
from graphrec.losses import bpr_loss, l2_regularization, pairwise_scores
from graphrec.models.base import Recommender
from graphrec.models.layers.l2norm import l2_normalize


def edge_dropout(graph: SparseGraph, p: float) -> SparseGraph:
    """Keep each stored entry with probability 1 − p, rescaled by 1/(1 − p) (NGCF node dropout)."""
    keep = torch.rand(graph.nnz, device=graph.device) >= p
    return SparseGraph.from_coo(graph.row[keep], graph.col[keep], graph.values[keep] / (1.0 - p), graph.shape)


class NGCF(Recommender):
    def __init__(self, n_users: int, n_items: int, embedding_dim: int = 64,
                 layer_dims: list[int] | tuple[int, ...] = (64, 64, 64), message_dropout: float = 0.1,
                 node_dropout: float = 0.0, reg_weight: float = 1e-5):
        super().__init__(n_users, n_items)
        self.embedding = nn.Parameter(nn.init.xavier_uniform_(torch.empty(n_users + n_items, embedding_dim)))
        dims = [embedding_dim, *[int(d) for d in layer_dims]]
        self.w1 = nn.ModuleList(nn.Linear(a, b) for a, b in zip(dims[:-1], dims[1:]))
        self.w2 = nn.ModuleList(nn.Linear(a, b) for a, b in zip(dims[:-1], dims[1:]))
        self.message_dropout, self.node_dropout, self.reg_weight = message_dropout, node_dropout, reg_weight

    def graph_specs(self) -> dict[str, GraphSpec]:
        return {"adj": GraphSpec("bipartite", {"norm": "symmetric"})}

    def node_embeddings(self, rows: torch.Tensor | None = None) -> torch.Tensor:
        graph = self.graphs["adj"]
        if self.training and self.node_dropout > 0:
            graph = edge_dropout(graph, self.node_dropout)
        x, hidden = self.embedding, []
        for depth, (w1, w2) in enumerate(zip(self.w1, self.w2), start=1):
            side = graph @ x
            if depth == len(self.w1) and rows is not None:  # the last layer only where it is read
                side, x = side[rows], x[rows]
            x = F.dropout(F.leaky_relu(w1(side + x) + w2(side * x), negative_slope=0.2), self.message_dropout,
                          self.training)
            hidden.append(x)
        ego = self.embedding if rows is None else self.embedding[rows]
        if rows is not None and hidden:  # the last table is already restricted to ``rows``
            hidden = [h[rows] for h in hidden[:-1]] + hidden[-1:]
        return torch.cat([ego, *map(l2_normalize, hidden)], dim=1)

    def loss(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        u, i, j = self.batch_embeddings(batch)
        pos, neg = pairwise_scores(u, i, j)
        return {"bpr": bpr_loss(pos, neg), "reg": self.reg_weight * l2_regularization(u, i, j, batch_size=u.shape[0])}
