"""Vectorised negative sampling and training batches (pairwise BPR or pointwise), on torch tensors.

Negatives are drawn uniformly from all items and re-drawn where they hit one of the user's training
positives (membership by binary search over sorted ``user * n_items + item`` keys), so no training
positive of that user is ever returned and no Python loop runs per interaction.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch

from graphrec.data.interactions import InteractionIndex
from graphrec.errors import DataError

__all__ = ["InteractionIndex", "NegativeSampler", "TrainingBatches"]


class NegativeSampler:
    """Uniform negatives that are never a positive of the user in ``index``."""

    def __init__(self, index: InteractionIndex, max_rounds: int = 100):
        self.index = index
        self.max_rounds = max_rounds
        full = index.degree >= index.n_items
        self._full_users = torch.nonzero(full).flatten()

    def sample(self, users: torch.Tensor, n_neg: int = 1, generator: torch.Generator | None = None) -> torch.Tensor:
        """``[len(users), n_neg]`` item ids, none of them a positive of its user."""
        if self._full_users.numel() and torch.isin(users, self._full_users).any():
            raise DataError("a user has interacted with every item: no negative item exists for them")
        users = users.long().unsqueeze(1).expand(-1, n_neg)
        neg = torch.randint(self.index.n_items, users.shape, generator=generator)
        bad = self.index.contains(users, neg)
        for _ in range(self.max_rounds):
            n_bad = int(bad.sum())
            if n_bad == 0:
                return neg
            neg[bad] = torch.randint(self.index.n_items, (n_bad,), generator=generator)
            bad[bad.clone()] = self.index.contains(users[bad], neg[bad])
        # users with almost every item interacted: finish exactly from their complement
        for flat in torch.nonzero(bad.any(dim=1)).flatten().tolist():
            u = int(users[flat, 0])
            allowed = torch.ones(self.index.n_items, dtype=torch.bool)
            allowed[self.index.user_items(u)] = False
            cand = torch.nonzero(allowed).flatten()
            pick = cand[torch.randint(cand.numel(), (int(bad[flat].sum()),), generator=generator)]
            neg[flat, bad[flat]] = pick
        return neg

    def sample_distinct(self, users: torch.Tensor, n: int, generator: torch.Generator | None = None,
                        max_block_elements: int = 16_000_000) -> torch.Tensor:
        """``[len(users), n]`` distinct items per row, none a positive of its user, uniformly without
        replacement: the ``n`` smallest of i.i.d. uniform keys over the user's non-interacted items (rows in
        blocks of at most ``max_block_elements`` keys)."""
        users = users.long()
        n_items = self.index.n_items
        free = n_items - self.index.degree[users]
        if users.numel() and int(free.min()) < n:
            row = int(torch.argmin(free))
            raise DataError(f"eval.n_negatives: user {int(users[row])} has only {int(free[row])} items it never "
                            f"interacted with; {n} distinct negatives are needed")
        out = torch.empty(users.numel(), n, dtype=torch.long)
        block = max(1, max_block_elements // max(n_items, 1))
        for lo in range(0, users.numel(), block):
            ub = users[lo:lo + block]
            keys = torch.rand(ub.numel(), n_items, generator=generator)
            rows, cols = self.index.gather(ub)
            keys[rows, cols] = 2.0  # interacted items sort after every free one
            out[lo:lo + block] = keys.topk(n, dim=1, largest=False).indices
        return out


class TrainingBatches:
    """One epoch of shuffled training batches with fresh negatives.

    ``kind='pairwise'`` yields ``{"user", "pos", "neg"}`` (``neg`` is ``[B]`` for one negative, ``[B, n]``
    otherwise); ``kind='pointwise'`` yields ``{"user", "item", "label"}`` with each positive followed by its
    ``n_neg`` negatives labelled 0; ``kind='positive'`` yields ``{"user", "pos"}`` and samples no negatives
    (self-supervised models: BM3, SelfCF).
    """

    KINDS = ("pairwise", "pointwise", "positive")

    def __init__(self, user: torch.Tensor, item: torch.Tensor, sampler: NegativeSampler, batch_size: int,
                 n_neg: int = 1, kind: str = "pairwise"):
        if kind not in self.KINDS:
            raise ValueError(f"unknown sampling kind '{kind}' (one of {', '.join(self.KINDS)})")
        self.user, self.item = user.long(), item.long()
        self.sampler, self.batch_size, self.n_neg, self.kind = sampler, batch_size, n_neg, kind
        self.group = 1 + n_neg if kind == "pointwise" else 1  # rows of one positive (graphrec.distributed)

    def __len__(self) -> int:
        return (self.user.numel() + self.batch_size - 1) // self.batch_size

    def epoch(self, generator: torch.Generator) -> Iterator[dict[str, torch.Tensor]]:
        perm = torch.randperm(self.user.numel(), generator=generator)
        users, items = self.user[perm], self.item[perm]
        if self.kind == "positive":
            for lo in range(0, users.numel(), self.batch_size):
                yield {"user": users[lo:lo + self.batch_size], "pos": items[lo:lo + self.batch_size]}
            return
        negs = self.sampler.sample(users, self.n_neg, generator)
        for lo in range(0, users.numel(), self.batch_size):
            u, p, n = users[lo:lo + self.batch_size], items[lo:lo + self.batch_size], negs[lo:lo + self.batch_size]
            if self.kind == "pairwise":
                yield {"user": u, "pos": p, "neg": n.squeeze(1) if self.n_neg == 1 else n}
            else:
                all_items = torch.cat([p.unsqueeze(1), n], dim=1)
                labels = torch.zeros_like(all_items, dtype=torch.float32)
                labels[:, 0] = 1.0
                yield {"user": u.unsqueeze(1).expand_as(all_items).reshape(-1), "item": all_items.reshape(-1),
                       "label": labels.reshape(-1)}
