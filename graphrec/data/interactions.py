"""``InteractionIndex``: a user → items index over sorted ``user * n_items + item`` keys.

One structure serves the negative sampler (vectorised membership by binary search), the evaluators (items to
mask and held-out positives per user, in CSR form) and serving (items to exclude).
"""

from __future__ import annotations

import torch


class InteractionIndex:
    def __init__(self, user: torch.Tensor, item: torch.Tensor, n_users: int, n_items: int):
        self.n_users, self.n_items = int(n_users), int(n_items)
        self.keys = torch.unique(user.long() * self.n_items + item.long())  # sorted, deduplicated
        self.indices = self.keys % self.n_items
        self.degree = torch.bincount(self.keys // self.n_items, minlength=self.n_users)
        self.indptr = torch.zeros(self.n_users + 1, dtype=torch.long)
        self.indptr[1:] = torch.cumsum(self.degree, 0)

    def counts(self) -> torch.Tensor:
        return self.degree

    def contains(self, user: torch.Tensor, item: torch.Tensor) -> torch.Tensor:
        """Elementwise membership of (user, item) pairs; ``user`` and ``item`` broadcast together."""
        keys = self.keys.to(item.device)
        query = user.long() * self.n_items + item.long()
        if keys.numel() == 0:
            return torch.zeros_like(query, dtype=torch.bool)
        pos = torch.searchsorted(keys, query).clamp_(max=keys.numel() - 1)
        return keys[pos] == query

    def gather(self, users: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(row position within ``users``, item) for every stored item of those users."""
        users = users.cpu()
        starts, counts = self.indptr[users], self.degree[users]
        rows = torch.repeat_interleave(torch.arange(users.numel()), counts)
        offsets = torch.arange(int(counts.sum())) - torch.repeat_interleave(torch.cumsum(counts, 0) - counts, counts)
        return rows, self.indices[starts[rows] + offsets]

    def user_items(self, user: int) -> torch.Tensor:
        return self.indices[self.indptr[user]:self.indptr[user + 1]]

    def dense_rows(self, users: torch.Tensor, device: torch.device | str = "cpu") -> torch.Tensor:
        rows, cols = self.gather(users)
        out = torch.zeros(users.numel(), self.n_items, dtype=torch.bool, device=device)
        out[rows.to(device), cols.to(device)] = True
        return out
