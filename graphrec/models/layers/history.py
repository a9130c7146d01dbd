"""Item-based models over a user's training history (FISM, NAIS, IRIS): the history index and segment maths.

A user u is represented by the items R⁺_u of the training split. For a (u, target t) pair, the history is
R⁺_u \\ {t}: the target is removed from its own history (FISM eq. 2, NAIS eq. 3), so a training positive never
explains itself. Pairs come in groups of one user and T targets (a positive and its K negatives in training,
a held-out item and its 99 candidates in evaluation): a group's history is gathered once. Histories are
flattened, not padded: G groups hold E = Σ_g |R⁺_{u_g}| elements ``(row, item)`` and every per-group reduction
is a segment operation over ``row`` (``index_add``), so a user with 700 items costs 700 elements and one with
5 costs 5; values per (element, target) are ``[E, T]``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import torch

from graphrec.graphs.sparse import SparseGraph


@dataclass
class HistoryRows:
    """The flattened histories of G groups (one user, T targets each)."""

    row: torch.Tensor  # [E] the group each element belongs to
    item: torch.Tensor  # [E] the history item
    keep: torch.Tensor  # [E, T] bool: False where the history item is that target
    n_rows: int

    def lengths(self) -> torch.Tensor:
        """|R⁺_u \\ {t}| per (group, target), [G, T]."""
        return segment_sum(self.keep.float(), self.row, self.n_rows)


class UserHistory:
    """Each user's training items in CSR form on the model's device, from the ``bipartite`` graph with
    ``norm=none`` (users first: row u of that graph lists u's items, offset by ``n_users``)."""

    def __init__(self, interactions: SparseGraph, n_users: int):
        self.indptr = interactions.crow[: n_users + 1].long()
        self.items = interactions.col[: int(self.indptr[-1])].long() - n_users
        self.degree = self.indptr[1:] - self.indptr[:-1]

    def rows(self, users: torch.Tensor, targets: torch.Tensor) -> HistoryRows:
        """The histories of groups ``users`` [G] with targets [G, T]; each target marked with ``keep=False``."""
        counts = self.degree[users]
        row = torch.repeat_interleave(torch.arange(users.numel(), device=users.device), counts)
        ends = torch.cumsum(counts, 0)
        offset = torch.arange(int(ends[-1]) if ends.numel() else 0, device=users.device) - (ends - counts)[row]
        item = self.items[self.indptr[users][row] + offset]
        return HistoryRows(row, item, item.unsqueeze(1) != targets[row], users.numel())

    def row_chunks(self, users: torch.Tensor, max_elements: int, n_targets: int = 1) -> Iterator[slice]:
        """Consecutive slices of ``users`` whose histories times ``n_targets`` hold at most ``max_elements``
        values together (at least one group each), so scoring many candidates never holds every history."""
        ends = (torch.cumsum(self.degree[users], 0) * n_targets).tolist()
        lo, base = 0, 0
        for hi, end in enumerate(ends, start=1):
            if end - base > max_elements and hi - 1 > lo:
                yield slice(lo, hi - 1)
                lo, base = hi - 1, ends[hi - 2]
        if lo < len(ends):
            yield slice(lo, len(ends))


def segment_sum(values: torch.Tensor, row: torch.Tensor, n_rows: int) -> torch.Tensor:
    """Σ of ``values`` [E, ...] per row, ``[n_rows, ...]`` (differentiable)."""
    out = values.new_zeros((n_rows, *values.shape[1:]))
    return out.index_add(0, row, values)


def segment_logsumexp(logits: torch.Tensor, row: torch.Tensor, n_rows: int) -> torch.Tensor:
    """log Σ exp(logits) per row (``logits`` [E, ...]), stabilised by the row maximum; rows with no finite
    logit give 0."""
    finite = torch.isfinite(logits)
    peak = torch.full((n_rows, *logits.shape[1:]), -torch.inf, dtype=logits.dtype, device=logits.device)
    index = row.view(-1, *([1] * (logits.dim() - 1))).expand_as(logits)
    peak = peak.scatter_reduce(0, index, logits.detach(), "amax", include_self=True)
    peak = torch.where(torch.isfinite(peak), peak, torch.zeros_like(peak))
    shifted = torch.where(finite, logits - peak[row], torch.full_like(logits, -torch.inf))
    total = segment_sum(shifted.exp(), row, n_rows)
    return torch.where(total > 0, peak + total.clamp_min(torch.finfo(total.dtype).tiny).log(), torch.zeros_like(total))


def smoothed_softmax(logits: torch.Tensor, row: torch.Tensor, n_rows: int, beta: float) -> torch.Tensor:
    """NAIS eq. 7: w_j = exp(a_j) / (Σ_{k in the row} exp(a_k))^β, computed as exp(a_j − β·logsumexp);
    ``-inf`` logits (masked elements) get weight 0. β = 1 is the softmax; β < 1 lets long histories keep more
    total weight (NAIS' remedy for the very different history lengths of users)."""
    lse = segment_logsumexp(logits, row, n_rows)
    weights = torch.exp(logits - beta * lse[row])
    return torch.where(torch.isfinite(logits), weights, torch.zeros_like(weights))
