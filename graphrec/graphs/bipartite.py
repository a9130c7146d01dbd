"""User–item bipartite graph over ``n_users + n_items`` nodes (users first, then items).

A = [[0, R], [Rᵀ, 0]] with R the binary training interaction matrix, optionally with self-loops, then
normalised (default symmetric D^-1/2 A D^-1/2 as in LightGCN eq. 7).
"""

from __future__ import annotations

import torch

from graphrec.graphs.normalize import add_self_loops, normalize
from graphrec.graphs.sparse import SparseGraph


def bipartite_graph(user: torch.Tensor, item: torch.Tensor, n_users: int, n_items: int,
                    norm: str = "symmetric", self_loops: bool = False) -> SparseGraph:
    user, item = user.long(), item.long() + n_users
    n = n_users + n_items
    graph = SparseGraph.from_coo(torch.cat([user, item]), torch.cat([item, user]), None, (n, n), symmetric=True)
    graph = graph.with_values(torch.ones_like(graph.values))  # duplicates count once
    if self_loops:
        graph = add_self_loops(graph, 1.0)
    return normalize(graph, norm)
