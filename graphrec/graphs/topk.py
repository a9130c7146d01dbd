"""Row-wise top-k helpers shared by the builders (vectorised, no Python loop per row)."""

from __future__ import annotations

import numpy as np
import torch


def topk_per_row(row: np.ndarray, col: np.ndarray, val: np.ndarray, k: int | None) -> np.ndarray:
    """Mask keeping, in every row, the ``k`` largest values (ties broken by the smaller column)."""
    if k is None or row.size == 0:
        return np.ones(row.size, dtype=bool)
    order = np.lexsort((col, -val, row))
    sorted_row = row[order]
    starts = np.flatnonzero(np.r_[True, sorted_row[1:] != sorted_row[:-1]])
    counts = np.diff(np.r_[starts, sorted_row.size])
    rank = np.arange(sorted_row.size) - np.repeat(starts, counts)
    keep = np.zeros(row.size, dtype=bool)
    keep[order[rank < k]] = True
    return keep


def block_topk(z: torch.Tensor, k: int, exclude: torch.Tensor | None = None, block_size: int | None = None,
               memory_elements: int = 32_000_000) -> tuple[torch.Tensor, torch.Tensor]:
    """Top-``k`` columns of ``z zᵀ`` per row, computed in row blocks: memory O(block · N + N · k).

    ``exclude`` (bool ``[N]``) marks rows that are nobody's neighbour. Self-pairs are excluded.
    Returns ``(index [N, k], score [N, k])``.
    """
    n = z.shape[0]
    block = block_size or max(1, min(n, memory_elements // max(n, 1)))
    out_idx = torch.empty(n, k, dtype=torch.long, device=z.device)
    out_val = torch.empty(n, k, dtype=z.dtype, device=z.device)
    for lo in range(0, n, block):
        hi = min(n, lo + block)
        sim = z[lo:hi] @ z.T
        sim[torch.arange(hi - lo, device=z.device), torch.arange(lo, hi, device=z.device)] = float("-inf")
        if exclude is not None:
            sim[:, exclude] = float("-inf")
        val, idx = sim.topk(k, dim=1)
        out_idx[lo:hi], out_val[lo:hi] = idx, val
    return out_idx, out_val


def topk_csr_rows(indptr: np.ndarray, indices: np.ndarray, data: np.ndarray, k: int) -> np.ndarray:
    """Keep-mask of each CSR row's ``k`` largest entries (ties: smaller column; columns sorted per row).

    Only rows longer than ``k`` are visited; each is cut with a linear-time partition, which is much
    cheaper than sorting all entries when rows are long (random-surfing products).
    """
    keep = np.ones(data.size, dtype=bool)
    lengths = np.diff(indptr)
    for r in np.flatnonzero(lengths > k):
        lo, hi = indptr[r], indptr[r + 1]
        seg = data[lo:hi]
        kth = np.partition(seg, seg.size - k)[seg.size - k]  # the k-th largest value
        above = seg > kth
        ties = np.flatnonzero(seg == kth)  # in column order, since columns are sorted within the row
        row_keep = above
        row_keep[ties[: k - int(above.sum())]] = True
        keep[lo:hi] = row_keep
    return keep
