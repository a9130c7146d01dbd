"""k-nearest-neighbour item graphs from features.

- ``knn_graph``: exact cosine top-k per item, in row blocks (memory O(block · N + N · k)); edge weight = the
  cosine similarity (or 1 with ``binary=True``); ``symmetric=True`` takes the union A ∪ Aᵀ (max weight).
  An all-zero feature row has no defined cosine: such items get no neighbours and are nobody's neighbour
  (a warning counts them). ``k ≥ N`` is clamped to N − 1 with a warning. ``include_self=True`` keeps the item
  itself as one of its k neighbours (weight 1 = cos(x_i, x_i)) plus its k − 1 nearest others, as the top-k of
  LATTICE and FREEDOM does (their similarity rows include the diagonal); ``norm`` normalises the result
  (see ``graphrec.graphs.normalize``). ``shrink`` > 0 ranks and weighs by the shrunk cosine
  x_i·x_j / (‖x_i‖ ‖x_j‖ + shrink) (Dacrema et al., RecSys 2019; MMRec's ItemKNNCBF), which discounts pairs
  of short vectors.
- ``learned_knn_graph``: the top-k structure of z zᵀ selected without gradient, with edge weights z_i·z_j that
  stay differentiable in z (LATTICE's learned structure, A²BM²GL's re-selected neighbours).
- ``WeightedCosineKNN``: the learnable multi-head weighted cosine of A²BM²GL eq. 3,
  s_ij = (1/m) Σ_p cos(w_p ⊙ x_i, w_p ⊙ x_j); it re-selects neighbours from its current weights (no grad)
  and returns a graph whose edge weights s_ij are differentiable in w.
"""

from __future__ import annotations

import warnings

import torch
import torch.nn.functional as F
from torch import nn

from graphrec.errors import ConfigError, DataError
from graphrec.graphs.normalize import add_self_loops, normalize
from graphrec.graphs.sparse import SparseGraph, edge_dot
from graphrec.graphs.topk import block_topk


def _checked_k(k: int, n: int) -> int:
    if k < 1:
        raise ConfigError(f"kNN graph: k must be at least 1, got {k}")
    if k >= n:
        warnings.warn(f"kNN graph: k={k} ≥ {n} items; using k={n - 1}", stacklevel=3)
        k = n - 1
    return k


def _zero_rows(x: torch.Tensor, what: str) -> torch.Tensor:
    if not torch.isfinite(x).all():
        raise DataError(f"{what}: features contain NaN or inf")
    zero = x.abs().sum(1) == 0
    if zero.any():
        warnings.warn(f"{what}: {int(zero.sum())} all-zero feature rows have no cosine neighbours", stacklevel=3)
    return zero


def _assemble(idx: torch.Tensor, val: torch.Tensor, valid: torch.Tensor, n: int, symmetric: bool) -> SparseGraph:
    rows = torch.arange(n, device=idx.device).unsqueeze(1).expand_as(idx)
    keep = valid & torch.isfinite(val)
    row, col, w = rows[keep], idx[keep], val[keep]
    if symmetric:
        return SparseGraph.from_coo(torch.cat([row, col]), torch.cat([col, row]), torch.cat([w, w]), (n, n),
                                    symmetric=True, reduce="max")
    return SparseGraph.from_coo(row, col, w, (n, n))


def knn_graph(features: torch.Tensor, k: int = 10, symmetric: bool = False, binary: bool = False,
              block_size: int | None = None, what: str = "features", include_self: bool = False,
              norm: str = "none", shrink: float = 0.0) -> SparseGraph:
    if k < 1:
        raise ConfigError(f"kNN graph of {what}: k must be at least 1, got {k}")
    n = features.shape[0]
    k_others = k - 1 if include_self else k
    x = features.float()
    zero = _zero_rows(x, what)
    if k_others > 0:
        k_others = _checked_k(k_others, n)
        if shrink < 0:
            raise ConfigError(f"kNN graph of {what}: shrink must be non-negative, got {shrink}")
        z = x if shrink else F.normalize(x, dim=1)
        idx, val = block_topk(z, k_others, exclude=zero if zero.any() else None, block_size=block_size,
                              shrink=shrink)
        valid = ~zero.unsqueeze(1).expand_as(idx)
        if binary:
            val = torch.where(torch.isfinite(val), torch.ones_like(val), val)
        graph = _assemble(idx, val, valid, n, symmetric)
    else:
        graph = SparseGraph.from_coo(torch.zeros(0, dtype=torch.long), torch.zeros(0, dtype=torch.long),
                                     torch.zeros(0), (n, n), symmetric=True)
    if include_self:
        graph = add_self_loops(graph, 1.0)
    return normalize(graph, norm)


def learned_knn_graph(z: torch.Tensor, k: int, include_self: bool = False, exclude: torch.Tensor | None = None,
                      block_size: int | None = None) -> SparseGraph:
    """Top-``k`` of ``z zᵀ`` per row (structure without gradient), weights z_i·z_j differentiable in ``z``.

    ``include_self`` makes the row itself one of the k (as LATTICE's top-k over a similarity row does);
    ``exclude`` (bool ``[N]``) marks rows that get no neighbours and are nobody's neighbour.
    """
    n = z.shape[0]
    k_others = _checked_k(k - 1, n) if include_self else _checked_k(k, n)
    with torch.no_grad():
        idx, val = block_topk(z.detach(), k_others, exclude=exclude, block_size=block_size)
    valid = torch.isfinite(val)
    if exclude is not None:
        valid &= ~exclude.unsqueeze(1)
    row = torch.arange(n, device=z.device).unsqueeze(1).expand_as(idx)[valid]
    col = idx[valid]
    if include_self:
        ar = torch.arange(n, device=z.device)
        row, col = torch.cat([row, ar]), torch.cat([col, ar])
    graph = SparseGraph.from_coo(row, col, None, (n, n))  # sorted structure
    return graph.with_values(edge_dot(graph, z, z))


class WeightedCosineKNN(nn.Module):
    """A²BM²GL eq. 3: m learnable weight vectors w_p (initialised to 1, i.e. plain cosine)."""

    def __init__(self, dim: int, heads: int = 4, k: int = 10):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(heads, dim))
        self.k = k

    def embed(self, x: torch.Tensor, weight: torch.Tensor | None = None) -> torch.Tensor:
        """Z with Z_i·Z_j = s_ij: heads' normalised weighted vectors, concatenated, scaled by 1/sqrt(m).
        ``weight`` replaces the learned weights (e.g. those of an earlier selection)."""
        weight = self.weight if weight is None else weight
        heads = F.normalize(weight.unsqueeze(1) * x.unsqueeze(0), dim=2)  # [m, N, d]
        return heads.permute(1, 0, 2).reshape(x.shape[0], -1) / weight.shape[0] ** 0.5

    def forward(self, x: torch.Tensor, block_size: int | None = None, weight: torch.Tensor | None = None
                ) -> SparseGraph:
        zero = _zero_rows(x.detach(), "weighted-cosine kNN")
        return learned_knn_graph(self.embed(x, weight), self.k, exclude=zero if zero.any() else None,
                                 block_size=block_size)
