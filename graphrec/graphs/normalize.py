"""Degree normalisations of a ``SparseGraph`` (all differentiable in the edge values).

- ``symmetric``: Â = D^-1/2 A D^-1/2, â_ij = a_ij / sqrt(d_i d_j) (GCN, LightGCN; HUIGN eq. 4);
- ``row``: row-stochastic, â_ij = a_ij / d_i;
- ``plus_one``: â_ij = a_ij / sqrt((d_i + 1)(d_j + 1)) (A²BM²GL eq. 1);
- ``row_symmetric``: â_ij = a_ij / sqrt(r_i r_j) with r the row sums only, the normalisation LATTICE and
  FREEDOM apply to their directed kNN graphs (equal to ``symmetric`` when A is symmetric);
- ``softmax``: each row's stored values through a softmax, â_ij = exp(a_ij) / Σ_{j' ∈ N(i)} exp(a_ij') (an
  attention-style weighting over a row's neighbours only; absent entries stay absent);
- ``add_self_loops``: A + w I, with ``w`` a float or a learnable scalar tensor (A²BM²GL eq. 4).
Rows (columns) of zero degree stay zero instead of producing inf.
"""

from __future__ import annotations

import torch

from graphrec.errors import ConfigError
from graphrec.graphs.sparse import SparseGraph


def _inv_pow(deg: torch.Tensor, power: float) -> torch.Tensor:
    out = deg.clamp(min=1e-12).pow(-power)
    return torch.where(deg > 0, out, torch.zeros_like(out))


def symmetric(graph: SparseGraph) -> SparseGraph:
    d_row, d_col = graph.degree(1), graph.degree(0)
    scale = _inv_pow(d_row, 0.5)[graph.row] * _inv_pow(d_col, 0.5)[graph.col]
    return graph.with_values(graph.values * scale)


def row(graph: SparseGraph) -> SparseGraph:
    """D^-1 A: not symmetric even when A is, so backward must use its transpose."""
    return graph.with_values(graph.values * _inv_pow(graph.degree(1), 1.0)[graph.row], symmetric=False)


def plus_one(graph: SparseGraph) -> SparseGraph:
    d_row, d_col = graph.degree(1) + 1.0, graph.degree(0) + 1.0
    return graph.with_values(graph.values * (d_row[graph.row] * d_col[graph.col]).rsqrt())


def row_symmetric(graph: SparseGraph) -> SparseGraph:
    r = _inv_pow(graph.degree(1), 0.5)
    return graph.with_values(graph.values * r[graph.row] * r[graph.col])


def row_softmax(graph: SparseGraph) -> SparseGraph:
    """Softmax over each row's stored entries (shifted by the row maximum, so large counts do not overflow)."""
    v, r = graph.values, graph.row
    row_max = torch.full((graph.shape[0],), float("-inf"), dtype=v.dtype, device=v.device)
    row_max = row_max.scatter_reduce(0, r, v, reduce="amax")
    e = (v - row_max[r]).exp()
    total = torch.zeros(graph.shape[0], dtype=v.dtype, device=v.device).index_add_(0, r, e)
    return graph.with_values(e / total[r], symmetric=False)


NORMALISATIONS = {"symmetric": symmetric, "row": row, "plus_one": plus_one, "row_symmetric": row_symmetric,
                  "softmax": row_softmax, "none": lambda g: g}


def normalize(graph: SparseGraph, kind: str) -> SparseGraph:
    if kind not in NORMALISATIONS:
        raise ConfigError(f"graph norm: unknown normalisation '{kind}' (choose from {', '.join(NORMALISATIONS)})")
    return NORMALISATIONS[kind](graph)


def add_self_loops(graph: SparseGraph, weight: float | torch.Tensor = 1.0) -> SparseGraph:
    """A + w I for a square graph; ``weight`` may be a learnable 0-d tensor (gradient flows into it)."""
    n = graph.shape[0]
    if graph.shape[0] != graph.shape[1]:
        raise ValueError("self-loops need a square graph")
    ar = torch.arange(n, device=graph.device)
    w = torch.as_tensor(weight, dtype=graph.values.dtype, device=graph.device)
    loops = w.expand(n) if w.dim() == 0 else w
    row = torch.cat([graph.row, ar])
    col = torch.cat([graph.col, ar])
    return SparseGraph.from_coo(row, col, torch.cat([graph.values, loops]), graph.shape, graph.symmetric)
