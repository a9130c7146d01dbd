"""Item–item kNN graphs kept only where every modality agrees (DA-MRS's denoised item–item graphs).

For modalities m = 1..M with cosine similarities S_m(i, j) = ẑ_i^m · ẑ_j^m (ẑ = x / ‖x‖), a pair (i, j) is a
candidate when it is at least as similar as average in *every* modality:

    C(i, j) = ∧_m [ S_m(i, j) ≥ mean(S_m) ],   mean(S_m) = (1/N²) Σ_ij S_m(i, j) = ‖Σ_i ẑ_i^m‖² / N²,

so the means need no N × N matrix. Each item keeps its ``k`` candidates of largest S_r in the ranking
modality r (the item itself included: S_r(i, i) = 1 and it is always a candidate), edge weight 1 (or S_r with
``binary=False``), then ``norm`` (DA-MRS: ``row_symmetric``, a_ij / sqrt(r_i r_j) over row sums). Rows are
processed in blocks: memory O(M · block · N + N · k).

An all-zero feature row has no cosine: its similarities are taken as 0 (it is a candidate of nobody unless a
mean is ≤ 0), and a warning counts such rows.
"""

from __future__ import annotations

import warnings

import torch
import torch.nn.functional as F

from graphrec.errors import ConfigError, DataError
from graphrec.graphs.normalize import normalize
from graphrec.graphs.sparse import SparseGraph


def mean_cosine(z: torch.Tensor) -> torch.Tensor:
    """Mean of the N × N cosine matrix of row-normalised ``z``, diagonal included: ‖Σ_i z_i‖² / N²."""
    total = z.sum(0)
    return (total @ total) / float(z.shape[0]) ** 2


def consistent_knn_graph(features: dict[str, torch.Tensor], modality: str, k: int = 10, binary: bool = True,
                         norm: str = "row_symmetric", block_size: int | None = None,
                         memory_elements: int = 16_000_000) -> SparseGraph:
    """The ``k`` most ``modality``-similar items among those similar above average in every modality."""
    if modality not in features:
        raise ConfigError(f"graph 'consistent_knn': graph.modality '{modality}' is not among {sorted(features)}")
    if k < 1:
        raise ConfigError(f"graph 'consistent_knn': graph.k must be at least 1, got {k}")
    names = sorted(features)
    n = features[modality].shape[0]
    z = {}
    for m in names:
        x = features[m].float()
        if x.shape[0] != n:
            raise DataError(f"graph 'consistent_knn': modality '{m}' has {x.shape[0]} rows, '{modality}' has {n}")
        if not torch.isfinite(x).all():
            raise DataError(f"graph 'consistent_knn': features of '{m}' contain NaN or inf")
        zero = int((x.abs().sum(1) == 0).sum())
        if zero:
            warnings.warn(f"graph 'consistent_knn': {zero} all-zero rows of '{m}' have cosine 0 to every item",
                          stacklevel=2)
        z[m] = F.normalize(x, dim=1)
    means = {m: mean_cosine(z[m]) for m in names}
    kk = min(k, n)
    block = block_size or max(1, min(n, memory_elements // max(1, n * len(names))))
    rows, cols, vals = [], [], []
    for lo in range(0, n, block):
        hi = min(n, lo + block)
        candidate = torch.ones(hi - lo, n, dtype=torch.bool, device=z[modality].device)
        for m in names:
            sim = z[m][lo:hi] @ z[m].T
            candidate &= sim >= means[m]
            if m == modality:
                score = sim
        score = score.masked_fill(~candidate, float("-inf"))
        top, idx = score.topk(kk, dim=1)
        keep = torch.isfinite(top)
        rows.append(torch.arange(lo, hi, device=idx.device).unsqueeze(1).expand_as(idx)[keep])
        cols.append(idx[keep])
        vals.append(torch.ones_like(top[keep]) if binary else top[keep])
    graph = SparseGraph.from_coo(torch.cat(rows), torch.cat(cols), torch.cat(vals), (n, n))
    return normalize(graph, norm)
