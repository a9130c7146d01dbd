"""Row-wise top-k helpers shared by the builders (vectorised, no Python loop per row)."""

from __future__ import annotations

import numpy as np
import torch
from tqdm import tqdm


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
               memory_elements: int = 32_000_000, shrink: float = 0.0) -> tuple[torch.Tensor, torch.Tensor]:
    """Top-``k`` columns of ``z zᵀ`` per row (self-pairs excluded), from square tiles: memory O(block² + N · k).

    ``z zᵀ`` is symmetric, so each tile (I, J) with J ≥ I is computed once and merged into the running top-k
    of its rows and, transposed, of its columns: half the products of a row-block sweep. ``exclude``
    (bool ``[N]``) marks rows that are nobody's neighbour. Returns ``(index [N, k], score [N, k])``, scores
    sorted descending; ties at the cut may resolve either way. ``shrink`` > 0 ranks by the shrunk cosine
    z_i·z_j / (‖z_i‖ ‖z_j‖ + shrink) instead (pass unnormalised ``z``), still symmetric, still tiled.
    """
    n = z.shape[0]
    block = block_size or max(1, min(n, int(memory_elements ** 0.5)))
    best_val = torch.full((n, k), float("-inf"), dtype=z.dtype, device=z.device)
    best_idx = torch.zeros(n, k, dtype=torch.long, device=z.device)
    norms = z.norm(dim=1) if shrink else None

    def merge(lo: int, hi: int, sim: torch.Tensor, col_offset: int) -> None:
        kk = min(k, sim.shape[1])
        val, idx = sim.topk(kk, dim=1)
        val = torch.cat([best_val[lo:hi], val], dim=1)
        idx = torch.cat([best_idx[lo:hi], idx + col_offset], dim=1)
        top_val, pos = val.topk(k, dim=1)
        best_val[lo:hi], best_idx[lo:hi] = top_val, idx.gather(1, pos)

    n_blocks = (n + block - 1) // block
    bar = tqdm(total=n_blocks * (n_blocks + 1) // 2, desc="kNN tiles", leave=False, disable=None if n_blocks > 4 else True)
    for lo in range(0, n, block):
        hi = min(n, lo + block)
        for lo2 in range(lo, n, block):
            bar.update()
            hi2 = min(n, lo2 + block)
            sim = z[lo:hi] @ z[lo2:hi2].T
            if shrink:
                sim = sim / (norms[lo:hi, None] * norms[None, lo2:hi2] + shrink)
            if lo == lo2:
                sim.fill_diagonal_(float("-inf"))
            if exclude is not None:
                sim[exclude[lo:hi]] = float("-inf")
                sim[:, exclude[lo2:hi2]] = float("-inf")
            merge(lo, hi, sim, lo2)
            if lo2 != lo:
                merge(lo2, hi2, sim.T, lo)
    bar.close()
    return best_idx, best_val


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
