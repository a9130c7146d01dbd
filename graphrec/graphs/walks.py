"""Weighted random walks on a ``SparseGraph``, vectorised over walkers (DeepWalk on weighted graphs).

From node t the walk moves to neighbour s with probability w_ts / Σ_{s'} w_ts' (the row of t normalised).
All walkers step together: with W the running sum of the CSR values (one prefix sum over the whole graph), a
walker at t draws u ~ U[0, 1) and takes the first edge of t's row whose running sum exceeds
W[start_t] + u · (W[end_t] − W[start_t]) — one ``searchsorted`` per step for every walker (inverse-CDF
sampling on the CSR, no alias tables and no Python loop over walkers). A walker at a node without edges stops;
its remaining positions are −1. PyG's ``Node2Vec`` samples unweighted walks, so it cannot serve eq. 3's weights.
"""

from __future__ import annotations

import torch

from graphrec.errors import ConfigError
from graphrec.graphs.sparse import SparseGraph


def weighted_random_walks(graph: SparseGraph, starts: torch.Tensor, length: int,
                          generator: torch.Generator | None = None) -> torch.Tensor:
    """Walks ``[len(starts), length]`` of node ids (the start first), −1 after a dead end."""
    if length < 1:
        raise ConfigError(f"walk length must be at least 1, got {length}")
    if graph.shape[0] != graph.shape[1]:
        raise ConfigError(f"random walks need a square graph, got shape {graph.shape}")
    if (graph.values < 0).any():
        raise ConfigError("random walks need non-negative edge weights")
    crow, col = graph.crow, graph.col
    running = torch.zeros(col.numel() + 1, dtype=torch.float64, device=col.device)
    running[1:] = torch.cumsum(graph.values.detach().double(), 0)
    walks = torch.full((starts.numel(), length), -1, dtype=torch.long, device=col.device)
    current = starts.long().to(col.device)
    walks[:, 0] = current
    alive = torch.ones_like(current, dtype=torch.bool)
    for step in range(1, length):
        lo, hi = crow[current], crow[current + 1]
        base, total = running[lo], running[hi] - running[lo]
        alive &= total > 0
        if not alive.any():
            break
        u = torch.rand(current.numel(), generator=generator, dtype=torch.float64).to(col.device)
        edge = torch.searchsorted(running[1:], base + u * total, right=True)
        edge = torch.minimum(torch.maximum(edge, lo), (hi - 1).clamp_min(0))
        nxt = torch.where(alive, col[edge.clamp_max(col.numel() - 1)] if col.numel() else current, current)
        walks[:, step] = torch.where(alive, nxt, torch.full_like(nxt, -1))
        current = nxt
    return walks
