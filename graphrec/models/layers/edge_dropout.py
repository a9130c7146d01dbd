"""Graph augmentations that drop user–item edges (FREEDOM, LayerGCN, SelfCF).

- ``prune_edges``: keep ⌊(1 − ρ)|E|⌋ undirected user–item edges sampled without replacement, with probability
  ∝ 1/sqrt(d_u d_i) (FREEDOM eq. 5–6, LayerGCN's degree-sensitive dropout) or uniformly, then renormalise the
  kept graph symmetrically, D^-1/2 A D^-1/2 on the kept degrees.
- ``dropout_entries``: keep each stored entry of Â independently with probability 1 − r and scale it by
  1/(1 − r) (BUIR's and SelfCF's sparse dropout, as ``torch.nn.functional.dropout`` on the values). The
  structure is kept, with zeros where entries were dropped, so no CSR is rebuilt per step.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from graphrec.graphs.normalize import symmetric
from graphrec.graphs.sparse import SparseGraph


def prune_edges(graph: SparseGraph, n_users: int, keep_fraction: float, degree_sensitive: bool = True
                ) -> SparseGraph:
    """Sample user–item edges of a symmetric-normalised bipartite adjacency (users first), keep a fraction
    without replacement, rebuild both directions and renormalise symmetrically."""
    user_side = graph.row < n_users
    row, col, weight = graph.row[user_side], graph.col[user_side], graph.values[user_side]
    n_keep = max(1, int(row.numel() * keep_fraction))
    if degree_sensitive:
        kept = torch.multinomial(weight, n_keep, replacement=False)
    else:
        kept = torch.randperm(row.numel(), device=row.device)[:n_keep]
    r, c = row[kept], col[kept]
    pruned = SparseGraph.from_coo(torch.cat([r, c]), torch.cat([c, r]), None, graph.shape, symmetric=True)
    return symmetric(pruned)


def dropout_entries(graph: SparseGraph, rate: float) -> SparseGraph:
    """Â with each stored entry zeroed with probability ``rate`` and the rest scaled by 1/(1 − rate); the two
    directions of an edge are dropped independently, so the result is not symmetric."""
    if rate <= 0.0:
        return graph
    return graph.with_values(F.dropout(graph.values, rate, training=True), symmetric=False)


class PrunedTrainingGraph:
    """Mixin (before ``Recommender`` in the bases) for models that train on a pruned copy of ``graphs['adj']``,
    redrawn before every epoch, and evaluate on the full graph (FREEDOM, LayerGCN, MMGCF, PGL). A model
    implements ``prune(epoch)`` (the new copy, or ``None`` to train on the full graph) and propagates over
    ``propagation_graph()``; the copy is dropped when new graphs are attached."""

    _pruned: SparseGraph | None = None

    def prune(self, epoch: int) -> SparseGraph | None:
        raise NotImplementedError

    def attach_graphs(self, graphs: dict[str, SparseGraph]) -> None:
        super().attach_graphs(graphs)
        self._pruned = None

    def pre_epoch(self, epoch: int) -> None:
        self._pruned = self.prune(epoch)

    def propagation_graph(self) -> SparseGraph:
        return self._pruned if self.training and self._pruned is not None else self.graphs["adj"]
