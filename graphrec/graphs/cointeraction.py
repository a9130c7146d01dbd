"""Item–item co-interaction graph (HUIGN §4.1.1): items i ≠ j linked when at least ``min_users`` distinct
users interacted with both; edge weight = the number of common users, C = RᵀR with R the binary training
user × item matrix. Computed as sparse products over blocks of item rows sized so that each block's product
stays below a budget of entries, never as a dense items × items matrix. Optional top-k per row (by weight).
"""

from __future__ import annotations

import warnings

import numpy as np
import scipy.sparse as sp
import torch

from graphrec.errors import ConfigError, DataError
from graphrec.graphs.sparse import SparseGraph
from graphrec.graphs.topk import topk_per_row


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
    if min_users < 1:
        raise ConfigError(f"graph 'cointeraction': min_users must be at least 1, got {min_users}")
    r = interaction_matrix(user, item, n_users, n_items)
    rt = r.T.tocsr()
    user_deg = np.diff(r.indptr)
    # products a row of RᵀR needs: Σ over its users of their degree; cut item rows into blocks by that
    cum = np.concatenate([[0], np.cumsum(user_deg[rt.indices], dtype=np.int64)])
    work = np.cumsum(cum[rt.indptr[1:]] - cum[rt.indptr[:-1]])  # cumulative products up to each item row
    block_id = work // max_block_products
    bounds = np.concatenate([[0], np.flatnonzero(np.diff(block_id)) + 1, [n_items]])
    rows, cols, vals = [], [], []
    for lo, hi in zip(bounds[:-1].tolist(), bounds[1:].tolist()):
        block = (rt[lo:hi] @ r).tocoo()
        keep = (block.data >= min_users) & (block.row + lo != block.col)
        rows.append(block.row[keep].astype(np.int64) + lo)
        cols.append(block.col[keep].astype(np.int64))
        vals.append(block.data[keep].astype(np.float32))
    row, col, val = np.concatenate(rows), np.concatenate(cols), np.concatenate(vals)
    if row.size == 0:
        warnings.warn(f"co-interaction graph: no item pair shares {min_users} users; the graph has no edges",
                      stacklevel=2)
    keep = topk_per_row(row, col, val, top_k)
    return SparseGraph.from_coo(torch.from_numpy(row[keep]), torch.from_numpy(col[keep]),
                                torch.from_numpy(val[keep]), (n_items, n_items), symmetric=top_k is None)
