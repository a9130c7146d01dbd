"""UltraGCN's item–item constraint graph (Mao et al., CIKM 2021, §3.2.2 eq. 12).

From the training co-occurrence matrix G = RᵀR: ω_ij = G_ij / (g_i − G_ii) · sqrt(g_i / g_j), with
g_i = Σ_k G_ik (so g_i − G_ii is item i's co-occurrence with other items), and each item keeps its ``k``
neighbours j ≠ i of largest ω_ij. G's off-diagonal entries come from the blocked sparse co-interaction builder;
g = Rᵀ(R 1) needs no product of items with items at all.
"""

from __future__ import annotations

import numpy as np
import torch

from graphrec.errors import ConfigError
from graphrec.graphs.cointeraction import cointeraction_graph, interaction_matrix
from graphrec.graphs.sparse import SparseGraph
from graphrec.graphs.topk import topk_per_row


def item_constraint_graph(user: torch.Tensor, item: torch.Tensor, n_users: int, n_items: int,
                          k: int = 10) -> SparseGraph:
    if k < 1:
        raise ConfigError(f"graph 'item_constraint': k must be at least 1, got {k}")
    r = interaction_matrix(user, item, n_users, n_items)
    g = np.asarray(r.T @ np.asarray(r.sum(axis=1)).ravel()).ravel()  # g_i = Σ_u∈N(i) d_u = Σ_k G_ik
    co = cointeraction_graph(user, item, n_users, n_items, min_users=1)
    row, col, count = co.row.numpy(), co.col.numpy(), co.values.numpy().astype(np.float64)
    g_other = g - np.asarray(r.sum(axis=0)).ravel()  # g_i − G_ii, G_ii = d_i
    omega = count / g_other[row] * np.sqrt(g[row] / g[col])
    keep = topk_per_row(row, col, omega, k)
    return SparseGraph.from_coo(torch.from_numpy(row[keep]), torch.from_numpy(col[keep]),
                                torch.from_numpy(omega[keep].astype(np.float32)), (n_items, n_items))
