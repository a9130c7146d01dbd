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
    cheaper than sorting all entries when rows are long (random-surfing products). Small non-negative integer
    values (co-occurrence counts) take a vectorised path with no loop over rows (``_topk_small_counts``).
    """
    if data.size and data.dtype.kind in "fiu" and data.min() >= 0 and data.max() <= _MAX_COUNT \
            and np.array_equal(data, np.floor(data)):
        return _topk_small_counts(indptr, data.astype(np.int32), k)
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


_MAX_COUNT = 4096  # counts up to this take the histogram path: a [rows × (max + 1)] table per call
_HIST_BUDGET = 50_000_000  # cells of that table at most; more rows are cut into chunks


def _topk_small_counts(indptr: np.ndarray, counts: np.ndarray, k: int) -> np.ndarray:
    """``topk_csr_rows`` for small non-negative integers: per row the k-th largest value t_r from a histogram,
    every entry above t_r kept, and the first (k − #above) entries equal to t_r in column order."""
    n_rows = indptr.size - 1
    if counts.size == 0:
        return np.ones(0, dtype=bool)
    lengths = np.diff(indptr)
    row = np.repeat(np.arange(n_rows, dtype=np.int32), lengths)
    width = int(counts.max()) + 1
    if n_rows * width > _HIST_BUDGET and n_rows > 1:  # the table would be large: rows in chunks
        step = max(1, _HIST_BUDGET // width)
        return np.concatenate([_topk_small_counts(indptr[lo:lo + step + 1] - indptr[lo],
                                                  counts[indptr[lo]:indptr[min(lo + step, n_rows)]], k)
                               for lo in range(0, n_rows, step)])
    hist = np.bincount(row.astype(np.int64) * width + counts, minlength=n_rows * width).reshape(n_rows, width)
    at_least = np.cumsum(hist[:, ::-1], axis=1)[:, ::-1]  # at_least[r, v] = #entries of row r with value ≥ v
    threshold = ((at_least >= k).sum(axis=1) - 1).astype(counts.dtype)  # k-th largest; −1: row ≤ k long
    row_threshold = threshold[row]
    keep = counts > row_threshold
    ties = np.flatnonzero(counts == row_threshold)  # in row, then column order
    if ties.size:
        tie_row = row[ties]
        starts = np.r_[0, np.flatnonzero(tie_row[1:] != tie_row[:-1]) + 1]
        rank = np.arange(ties.size) - np.repeat(starts, np.diff(np.r_[starts, ties.size]))
        room = k - np.bincount(row[keep], minlength=n_rows)  # ties each row may still take
        keep[ties[rank < room[tie_row]]] = True
    return keep
