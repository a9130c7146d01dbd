"""Co-occurrence graphs of the binary training matrix R (users × items), never dense:

- item–item co-interaction (HUIGN §4.1.1): items i ≠ j linked when at least ``min_users`` distinct users
  interacted with both; edge weight = the number of common users, C = RᵀR;
- user–user co-occurrence (DualGNN §III-B, DRAGON §3.1): users u ≠ v linked when they share at least
  ``min_items`` items, weight = the number of shared items, C = RRᵀ, each user's ``top_k`` heaviest
  neighbours kept, weights optionally turned into a softmax over the kept neighbours (``norm``).

Both are sparse products over blocks of rows sized so that each block's product stays below a budget of
entries, never a dense N × N matrix. Optional top-k per row (by weight; ties: the smaller column).
"""

from __future__ import annotations

import warnings

import numpy as np
import scipy.sparse as sp
import torch

from graphrec.errors import ConfigError, DataError
from graphrec.graphs.normalize import row_softmax
from graphrec.graphs.sparse import SparseGraph
from graphrec.graphs.topk import topk_csr_rows


def interaction_matrix(user: torch.Tensor, item: torch.Tensor, n_users: int, n_items: int) -> sp.csr_matrix:
    """Binary users × items CSR (duplicates count once)."""
    if user.numel() == 0:
        raise DataError("the training split is empty: no graph can be built")
    data = np.ones(user.numel(), dtype=np.float32)
    mat = sp.csr_matrix((data, (user.cpu().numpy(), item.cpu().numpy())), shape=(n_users, n_items))
    mat.data[:] = 1.0
    return mat


def cointeraction_graph(user: torch.Tensor, item: torch.Tensor, n_users: int, n_items: int, min_users: int = 5,
                        top_k: int | None = None, max_block_products: int = 20_000_000) -> SparseGraph:
    """Items × items: C = RᵀR off the diagonal, entries below ``min_users`` dropped."""
    if min_users < 1:
        raise ConfigError(f"graph 'cointeraction': min_users must be at least 1, got {min_users}")
    return _shared_neighbours(interaction_matrix(user, item, n_users, n_items), min_users, top_k,
                              max_block_products, what=("item", "users"))


def user_cooccurrence_graph(user: torch.Tensor, item: torch.Tensor, n_users: int, n_items: int,
                            min_items: int = 1, top_k: int | None = 40, norm: str = "none",
                            max_block_products: int = 20_000_000) -> SparseGraph:
    """Users × users: C = RRᵀ off the diagonal (shared items), entries below ``min_items`` dropped, each row's
    ``top_k`` largest kept. ``norm='softmax'`` replaces a row's counts c_uv by exp(c_uv) / Σ_v' exp(c_uv') over
    its kept neighbours (DualGNN's and DRAGON's aggregation weights); ``'none'`` keeps the counts."""
    if min_items < 1:
        raise ConfigError(f"graph 'user_cooccurrence': min_items must be at least 1, got {min_items}")
    if top_k is not None and top_k < 1:
        raise ConfigError(f"graph 'user_cooccurrence': top_k must be at least 1, got {top_k}")
    if norm not in ("none", "softmax"):
        raise ConfigError(f"graph 'user_cooccurrence': norm must be 'none' or 'softmax', got {norm!r}")
    rt = interaction_matrix(item, user, n_items, n_users)  # Rᵀ: its "co-interaction" is RRᵀ
    graph = _shared_neighbours(rt, min_items, top_k, max_block_products, what=("user", "items"))
    return row_softmax(graph) if norm == "softmax" else graph


def _shared_neighbours(r: sp.csr_matrix, min_shared: int, top_k: int | None, max_block_products: int,
                       what: tuple[str, str]) -> SparseGraph:
    """C = RᵀR over the columns of ``r`` (rows: the shared side), self-pairs removed, C < ``min_shared`` dropped."""
    n_cols = r.shape[1]
    rt = r.T.tocsr()
    user_deg = np.diff(r.indptr)
    # products a row of C needs: Σ over its shared-side entries of their degree; cut rows into blocks by that
    cum = np.concatenate([[0], np.cumsum(user_deg[rt.indices], dtype=np.int64)])
    work = np.cumsum(cum[rt.indptr[1:]] - cum[rt.indptr[:-1]])  # cumulative products up to each row
    block_id = work // max_block_products
    bounds = np.concatenate([[0], np.flatnonzero(np.diff(block_id)) + 1, [n_cols]])
    rows, cols, vals = [], [], []
    for lo, hi in zip(bounds[:-1].tolist(), bounds[1:].tolist()):
        block = (rt[lo:hi] @ r).tocsr()
        block.sort_indices()
        local_row = np.repeat(np.arange(hi - lo), np.diff(block.indptr))
        drop = (block.data < min_shared) | (block.indices == local_row + lo)
        if drop.any():
            block.data[drop] = 0
            block.eliminate_zeros()
        local_row = np.repeat(np.arange(hi - lo), np.diff(block.indptr))
        keep = slice(None) if top_k is None else topk_csr_rows(block.indptr, block.indices, block.data, top_k)
        rows.append(local_row[keep].astype(np.int64) + lo)  # a block holds whole rows: their top-k is exact
        cols.append(block.indices[keep].astype(np.int64))
        vals.append(block.data[keep].astype(np.float32))
    row, col, val = np.concatenate(rows), np.concatenate(cols), np.concatenate(vals)
    if row.size == 0:
        warnings.warn(f"co-occurrence graph: no {what[0]} pair shares {min_shared} {what[1]}; the graph has no edges",
                      stacklevel=3)
    return SparseGraph.from_coo(torch.from_numpy(row), torch.from_numpy(col), torch.from_numpy(val),
                                (n_cols, n_cols), symmetric=top_k is None)
