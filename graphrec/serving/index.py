"""Top-K over an export with the user's seen items excluded.

- ``ExactIndex``: embeddings exports: s = U[users] Iᵀ, one matrix product for the batch, seen items set to −∞,
  ``topk``; ranked exports: the stored per-user lists with the seen items filtered out (k ≤ ``max_k``);
- ``FaissIndex`` (optional ``faiss-cpu``): an inner-product index over the item embeddings, ``flat`` (exact)
  or ``hnsw`` (approximate: M = 32, efSearch = ``ef_search``), searched for k + (the batch's largest number of
  seen items) neighbours so that k remain after exclusion (``flat`` always; ``hnsw`` as far as its graph finds
  them).
Both return, per user, item indices and scores, best first.
"""

from __future__ import annotations

import numpy as np
import torch

from graphrec.errors import ConfigError
from graphrec.serving.artefact import Artefact

INDEXES = ("exact", "flat", "hnsw")


class ExactIndex:
    def __init__(self, art: Artefact):
        self.art = art
        if art.kind == "embeddings":
            self.users = torch.from_numpy(art.arrays["user_emb"])
            self.items = torch.from_numpy(art.arrays["item_emb"])

    def max_k(self) -> int:
        return int(self.art.manifest["max_k"]) if self.art.kind == "ranked" else self.art.n_items

    def query(self, users: list[int], k: int, exclude: str) -> list[tuple[np.ndarray, np.ndarray]]:
        if self.art.kind == "ranked":
            return [self._ranked(u, k, exclude) for u in users]
        with torch.no_grad():
            scores = self.users[torch.tensor(users)] @ self.items.T
            for row, u in enumerate(users):
                scores[row, torch.from_numpy(self.art.seen(u, exclude))] = float("-inf")
            top = scores.topk(k, dim=1)
        return [_finite(top.indices[r].numpy(), top.values[r].numpy()) for r in range(len(users))]

    def _ranked(self, user: int, k: int, exclude: str) -> tuple[np.ndarray, np.ndarray]:
        a = self.art.arrays
        lo, hi = a["ranked_indptr"][user], a["ranked_indptr"][user + 1]
        items, scores = a["ranked_items"][lo:hi], a["ranked_scores"][lo:hi]
        keep = ~np.isin(items, self.art.seen(user, exclude))
        return items[keep][:k], scores[keep][:k]


def _finite(items: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    keep = np.isfinite(scores)
    return items[keep], scores[keep]


class FaissIndex(ExactIndex):
    def __init__(self, art: Artefact, kind: str = "flat", ef_search: int = 128):
        super().__init__(art)
        if art.kind != "embeddings":
            raise ConfigError(f"index={kind}: the export holds ranked lists ({art.manifest['model']} has no "
                              f"embeddings); use index=exact")
        try:
            import faiss
        except ImportError:
            raise ConfigError(f"index={kind} needs the optional package: pip install \"graphrec[serve]\" faiss-cpu") \
                from None
        items = np.ascontiguousarray(art.arrays["item_emb"], dtype=np.float32)
        if kind == "flat":
            self.index = faiss.IndexFlatIP(items.shape[1])
        else:
            self.index = faiss.IndexHNSWFlat(items.shape[1], 32, faiss.METRIC_INNER_PRODUCT)
            self.index.hnsw.efSearch = int(ef_search)
        self.index.add(items)

    def query(self, users: list[int], k: int, exclude: str) -> list[tuple[np.ndarray, np.ndarray]]:
        seen = [self.art.seen(u, exclude) for u in users]
        fetch = min(self.art.n_items, k + max((s.size for s in seen), default=0))
        queries = np.ascontiguousarray(self.art.arrays["user_emb"][users], dtype=np.float32)
        scores, items = self.index.search(queries, fetch)
        out = []
        for row, s in enumerate(seen):
            keep = (items[row] >= 0) & ~np.isin(items[row], s)
            out.append((items[row][keep][:k].astype(np.int64), scores[row][keep][:k]))
        return out


def build_index(art: Artefact, kind: str = "exact", ef_search: int = 128) -> ExactIndex:
    if kind not in INDEXES:
        raise ConfigError(f"index: expected one of {', '.join(INDEXES)}, got '{kind}'")
    return ExactIndex(art) if kind == "exact" else FaissIndex(art, kind, ef_search)
