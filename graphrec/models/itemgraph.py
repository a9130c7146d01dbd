"""Pieces shared by the models that add an item–item graph to LightGCN (LATTICE, FREEDOM).

- ``modality_knn_spec``: the frozen per-modality kNN graph both papers build from raw features: top-k over a
  similarity row that includes the item itself, normalised as â_ij = a_ij / sqrt(r_i r_j) (row sums r);
- ``light_propagation``: LightGCN layers with the layer mean (LightGCN eq. 7–8) over a user–item graph.
"""

from __future__ import annotations

import torch

from graphrec.graphs.sparse import SparseGraph
from graphrec.graphs.store import GraphSpec


def modality_knn_spec(modality: str, k: int, binary: bool) -> GraphSpec:
    return GraphSpec("knn", {"modality": modality, "k": k, "include_self": True, "binary": binary,
                             "norm": "row_symmetric"})


def light_propagation(graph: SparseGraph, x: torch.Tensor, n_layers: int) -> torch.Tensor:
    """(1/(L+1)) Σ_l Â^l x."""
    out = x
    for _ in range(n_layers):
        x = graph @ x
        out = out + x
    return out / (n_layers + 1)
