"""Random-surfing full adjacency (A²BM²GL eq. 5, after DNGR / HGCL).

With P the row-stochastic transition matrix of a graph (P = D⁻¹A),
    A_0 = I,  A_k = α A_{k−1} P + (1 − α) A_0,  M = Σ_{k=1..K} A_k.
Rows are computed for blocks of seed nodes with sparse products; after every step (and for M) only the
``top_k`` largest entries of each row are kept, so memory stays O(N · top_k) and no N × N matrix is formed.
With ``top_k ≥ N`` the result equals the dense recurrence. Defaults follow DNGR: K = 3, α = 0.98.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import torch
from tqdm import tqdm

from graphrec.errors import ConfigError
from graphrec.graphs.sparse import SparseGraph
from graphrec.graphs.topk import topk_csr_rows


def _prune(mat: sp.csr_matrix, k: int) -> sp.csr_matrix:
    mat.sum_duplicates()  # canonical: sorted columns, no duplicates
    keep = topk_csr_rows(mat.indptr, mat.indices, mat.data, k)
    if keep.all():
        return mat
    kept_before = np.concatenate([[0], np.cumsum(keep)])
    indptr = kept_before[mat.indptr]
    return sp.csr_matrix((mat.data[keep], mat.indices[keep], indptr), shape=mat.shape)


def surfing_graph(graph: SparseGraph, K: int = 3, alpha: float = 0.98, top_k: int = 32,
                  block_size: int = 4096) -> SparseGraph:
    if graph.shape[0] != graph.shape[1]:
        raise ValueError("random surfing needs a square graph")
    if K < 1 or not 0.0 <= alpha <= 1.0 or top_k < 1:
        raise ConfigError(f"graph 'surfing': needs K ≥ 1, 0 ≤ α ≤ 1, top_k ≥ 1 (got K={K}, α={alpha}, top_k={top_k})")
    n = graph.shape[0]
    adj = sp.csr_matrix((graph.values.detach().abs().cpu().numpy().astype(np.float64),
                         graph.col.cpu().numpy(), graph.crow.cpu().numpy()), shape=graph.shape)
    deg = np.asarray(adj.sum(1)).ravel()
    transition = sp.diags(np.where(deg > 0, 1.0 / np.maximum(deg, 1e-300), 0.0)) @ adj
    transition = transition.tocsr()
    rows, cols, vals = [], [], []
    starts = range(0, n, block_size)
    for lo in tqdm(starts, desc="random surfing", leave=False, disable=None if len(starts) > 4 else True):
        hi = min(n, lo + block_size)
        a0 = sp.csr_matrix((np.ones(hi - lo), (np.arange(hi - lo), np.arange(lo, hi))), shape=(hi - lo, n))
        a_k, m = a0, sp.csr_matrix((hi - lo, n))
        for _ in range(K):
            a_k = _prune((alpha * (a_k @ transition) + (1.0 - alpha) * a0).tocsr(), top_k)
            m = m + a_k
        m = _prune(m.tocsr(), top_k).tocoo()
        rows.append(m.row.astype(np.int64) + lo)
        cols.append(m.col.astype(np.int64))
        vals.append(m.data.astype(np.float32))
    return SparseGraph.from_coo(torch.from_numpy(np.concatenate(rows)), torch.from_numpy(np.concatenate(cols)),
                                torch.from_numpy(np.concatenate(vals)), (n, n))
