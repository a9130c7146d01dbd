"""K-means in torch on the data's device: k-means++ seeding, Lloyd iterations in row blocks, best of restarts.

- ``kmeans_pp``: the first centre uniform, each next one drawn with probability ∝ D(x)², D the distance to the
  nearest centre chosen so far (Arthur & Vassilvitskii, 2007), one vectorised distance update per centre;
- ``kmeans``: Lloyd's algorithm, assignment argmin_k ‖x − c_k‖² and centre update c_k = mean of its points
  (an emptied cluster is re-seeded at the point farthest from its centre), until no assignment changes or
  ``iterations``; ``n_init`` restarts, the one of least inertia Σ_x min_k ‖x − c_k‖² kept. Distances are
  computed for ``block_size`` rows at a time, so memory is O(block · K), never N × K for large N;
- ``topics_within``: MTL's multi-assignment (§III-A3): every centre within cosine distance 1 − cos ≤ τ₃ of a
  point, and always its nearest one;
- ``tau_for_mean_count``: the τ₃ at which points get ``c`` topics on average — the c/K quantile of the
  point–centre cosine distances (over at most ``sample`` points) — for representations whose cosine distances
  are on another scale than the paper's (its τ₃ = 0.6 gave ≈ 4 topics per video; on ml-latest-small's
  representations it gives 98 of 100).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from graphrec.errors import ConfigError


@dataclass
class KMeansResult:
    centres: torch.Tensor  # [K, d]
    labels: torch.Tensor  # [N] int64
    inertia: float
    iterations: int


def _nearest(x: torch.Tensor, centres: torch.Tensor, block_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(index of the nearest centre, squared distance to it) per row of ``x``, in row blocks."""
    c_sq = centres.pow(2).sum(1)
    labels, dists = [], []
    for start in range(0, x.shape[0], block_size):
        xb = x[start:start + block_size]
        d = (xb.pow(2).sum(1, keepdim=True) - 2.0 * xb @ centres.T + c_sq).clamp_min(0.0)
        best, idx = d.min(1)
        labels.append(idx)
        dists.append(best)
    return torch.cat(labels), torch.cat(dists)


def kmeans_pp(x: torch.Tensor, k: int, generator: torch.Generator) -> torch.Tensor:
    """k-means++ seeding: ``k`` rows of ``x`` (module doc)."""
    n = x.shape[0]
    first = torch.randint(n, (1,), generator=generator, device="cpu").item()
    chosen = [first]
    d2 = (x - x[first]).pow(2).sum(1)
    for _ in range(1, k):
        total = d2.sum()
        if total <= 0:  # fewer distinct points than k: fill with uniform draws
            nxt = torch.randint(n, (1,), generator=generator, device="cpu").item()
        else:
            nxt = torch.multinomial((d2 / total).cpu().double(), 1, generator=generator).item()
        chosen.append(nxt)
        d2 = torch.minimum(d2, (x - x[nxt]).pow(2).sum(1))
    return x[torch.tensor(chosen, device=x.device)].clone()


def _lloyd(x: torch.Tensor, centres: torch.Tensor, iterations: int, block_size: int) -> KMeansResult:
    k = centres.shape[0]
    labels = None
    it = 0
    for it in range(1, iterations + 1):
        new_labels, dist = _nearest(x, centres, block_size)
        if labels is not None and torch.equal(new_labels, labels):
            break
        labels = new_labels
        counts = torch.bincount(labels, minlength=k).to(x.dtype)
        sums = torch.zeros_like(centres).index_add_(0, labels, x)
        empty = counts == 0
        centres = sums / counts.clamp_min(1.0)[:, None]
        if empty.any():  # re-seed each emptied cluster at one of the worst-fitted points
            far = dist.argsort(descending=True)[: int(empty.sum())]
            centres[empty] = x[far]
    labels, dist = _nearest(x, centres, block_size)
    return KMeansResult(centres, labels, float(dist.sum()), it)


def kmeans(x: torch.Tensor, k: int, n_init: int = 3, iterations: int = 100, seed: int = 0,
           block_size: int = 4096) -> KMeansResult:
    """K-means of the rows of ``x`` into ``k`` clusters (module doc); deterministic for a seed."""
    if x.ndim != 2 or x.shape[0] == 0:
        raise ConfigError(f"k-means: expected a non-empty [N, d] matrix, got shape {tuple(x.shape)}")
    if not 1 <= k <= x.shape[0]:
        raise ConfigError(f"k-means: K = {k} must be between 1 and the number of points ({x.shape[0]})")
    if n_init < 1 or iterations < 1:
        raise ConfigError(f"k-means: n_init and iterations must be at least 1 (got {n_init}, {iterations})")
    x = x.float()
    generator = torch.Generator().manual_seed(int(seed))
    best: KMeansResult | None = None
    for _ in range(n_init):
        result = _lloyd(x, kmeans_pp(x, k, generator), iterations, block_size)
        if best is None or result.inertia < best.inertia:
            best = result
    assert best is not None
    return best


def tau_for_mean_count(x: torch.Tensor, centres: torch.Tensor, count: float, sample: int = 20_000,
                       seed: int = 0) -> float:
    """τ₃ giving about ``count`` topics per point (module doc)."""
    k = centres.shape[0]
    if not 1.0 <= count <= k:
        raise ConfigError(f"topics_per_item: between 1 and K = {k}, got {count}")
    generator = torch.Generator().manual_seed(int(seed))
    rows = torch.randperm(x.shape[0], generator=generator)[:sample].to(x.device)
    xn = torch.nn.functional.normalize(x[rows].float(), dim=1)
    cn = torch.nn.functional.normalize(centres.float(), dim=1)
    dist = (1.0 - xn @ cn.T).flatten().cpu()
    q = count / k
    idx = min(int(q * dist.numel()), dist.numel() - 1)
    return float(dist.kthvalue(idx + 1).values)


def topics_within(x: torch.Tensor, centres: torch.Tensor, tau: float, block_size: int = 4096
                  ) -> tuple[torch.Tensor, torch.Tensor]:
    """(point, topic) pairs: every centre within cosine distance ``tau`` of each point, plus its nearest."""
    if not 0.0 <= tau <= 2.0:
        raise ConfigError(f"topics.tau3: a cosine distance between 0 and 2, got {tau}")
    xn = torch.nn.functional.normalize(x.float(), dim=1)
    cn = torch.nn.functional.normalize(centres.float(), dim=1)
    points, topics = [], []
    for start in range(0, xn.shape[0], block_size):
        sim = xn[start:start + block_size] @ cn.T
        hit = (1.0 - sim) <= tau
        hit[torch.arange(sim.shape[0], device=sim.device), sim.argmax(1)] = True
        p, t = hit.nonzero(as_tuple=True)
        points.append(p + start)
        topics.append(t)
    return torch.cat(points), torch.cat(topics)
