"""Tag co-occurrence graph (MTL §III-A2, eq. 3): tags are nodes, tags s ≠ t linked by x_st = the number of
videos carrying both, zero-weight edges dropped, and each edge weighted by its probability

    p_ε = x_ε / Σ_{j=1}^{E} x_j,   ε over the E undirected edges,

so the values of the (symmetric) CSR sum to 2 (each edge stored in both directions). A walk at tag t moves
along edge ε with probability p_ε / Σ_{ε ∋ t} p_ε = x_ε / Σ_{ε ∋ t} x_ε (``graphrec.topics.walks``).
The counts are TᵀT of the binary item × tag matrix T, off the diagonal: the co-interaction product of
``graphrec.graphs.cointeraction`` with videos in the place of users (blocked sparse products, no dense T × T).
"""

from __future__ import annotations

import torch

from graphrec.errors import DataError
from graphrec.graphs.cointeraction import cointeraction_graph
from graphrec.graphs.sparse import SparseGraph


def tag_cooccurrence_graph(item: torch.Tensor, tag: torch.Tensor, n_items: int, n_tags: int) -> SparseGraph:
    """Eq. 3's edge probabilities over the tags of ``(item, tag)`` pairs (duplicates count once)."""
    if tag.numel() == 0:
        raise DataError("tag co-occurrence graph: the dataset has no (item, tag) pairs")
    counts = cointeraction_graph(item, tag, n_items, n_tags, min_users=1)
    total = counts.values.double().sum() / 2.0
    values = (counts.values.double() / total).float() if total > 0 else counts.values
    return SparseGraph(counts.crow, counts.col, values, counts.shape, symmetric=True)
