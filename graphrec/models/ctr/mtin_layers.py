"""The three units of MTIN (Jiang et al., ACM MM 2020), each vectorised over the batch: no loop over users or
samples; the only Python loops are over the routing's few iterations (and, in its sequential order, positions).

- ``MatchingScores``: item–group co-attention (eq. 2–4),
  s_jg = W_s σ(W_v x_j + b_v + W_u c_g + b_u) + b_s,  x̂_j = s_jg ⊙ x_j,  ĉ_g = s_jg ⊙ c_g,
  p_{g←j} = w_hᵀ σ(W_l [x̂_j ; ĉ_g] + b_l) + b_h (eq. 4 as printed); ``affinity`` adds the co-attended
  γ cos(x̂_j, ĉ_g) (γ learned, from 5) and ``squash`` a sigmoid around it — additions (``graphrec.models.ctr.mtin``);
- ``interest_routing``: Algorithm 1 with the discount ξ_g = log_b(b + max(avg_{E_g} − p_{g←j}, 0)),
  p^(d) = p / ξ_g, g* = argmax_g p^(d), a move when g* ≠ S_j and p^(d) > ε; ``order="sequential"`` visits the
  items one by one, each seeing the moves before it (the paper's), ``"parallel"`` moves all of an iteration
  together against the previous averages; ``order="argmax"`` removes the routing (each item to its best group);
- ``TemporalMasks``: p parallel masks (eq. 5–7), Q^k_ij = x_iᵀ W^k_g x_j, P^k_ij = exp(−(i − j) ω_k) for i > j
  (positions inside the group), m^k_i = Σ_j P^k_ij Q^k_ij x_j, r^k_g = Σ_i m^k_i, r_g = MLP([r^1_g … r^p_g]);
  W^k_g per group (``per_group``, as eq. 5's subscript) or shared; the MLP of one layer or, as printed, two;
- ``InterestMask``: w_pg = softmax_g(c_pᵀ W_h r_g) (eq. 8), ŵ_pg = 1[w_pg > τ] (eq. 9), h_p = Σ_g ŵ_pg r_g (eq. 10).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from graphrec.models.layers.mlp import mlp


class MatchingScores(nn.Module):
    """p_{g←j} for every history item j and memory slot g (eq. 2–4): ``[B, L, s]``; in (0, 1) with ``squash``."""

    def __init__(self, dim: int, temperature: float = 5.0, affinity: bool = True, squash: bool = True):
        super().__init__()
        self.item_proj = nn.Linear(dim, dim)  # W_v, b_v
        self.group_proj = nn.Linear(dim, dim)  # W_u, b_u
        self.co_attention = nn.Linear(dim, dim)  # W_s, b_s
        self.score = mlp([2 * dim, dim, 1], nn.ReLU)  # W_l, b_l; w_h, b_h
        self.affinity, self.squash = bool(affinity), bool(squash)
        if self.affinity:
            self.temperature = nn.Parameter(torch.tensor(float(temperature)))  # γ of the affinity term

    def forward(self, x: torch.Tensor, memory: torch.Tensor) -> torch.Tensor:
        s = self.co_attention(torch.relu(self.item_proj(x)[:, :, None, :] + self.group_proj(memory)[:, None, :, :]))
        x_hat = s * x[:, :, None, :]  # [B, L, s, d]
        c_hat = s * memory[:, None, :, :]
        # the affinity first: the same order of operations (so of gradient sums) as before the switches existed,
        # which keeps variant=extended bit-identical to the runs behind the README's rows
        affinity = self.temperature * torch.cosine_similarity(x_hat, c_hat, dim=-1) if self.affinity else None
        p = self.score(torch.cat([x_hat, c_hat], -1)).squeeze(-1)
        if affinity is not None:
            p = p + affinity
        return torch.sigmoid(p) if self.squash else p


def discounted_scores(p: torch.Tensor, assign: torch.Tensor, base: float) -> torch.Tensor:
    """p^(d)_{g←j} = p_{g←j} / ξ_g with ξ_g = log_b(b + max(avg_{E_g} − p_{g←j}, 0)); an empty group has
    average 0 (no discount)."""
    member = F.one_hot(assign + 1, p.shape[-1] + 1)[..., 1:].to(p.dtype)  # [B, L, s]; unassigned: all 0
    avg = (member * p).sum(1) / member.sum(1).clamp_min(1.0)  # [B, s]
    xi = torch.log(base + torch.relu(avg[:, None, :] - p)) / math.log(base)
    return p / xi


ROUTING_ORDERS = ("parallel", "sequential", "argmax")


def _sequential_assignment(p: torch.Tensor, valid: torch.Tensor, iterations: int, base: float,
                           epsilon: float) -> torch.Tensor:
    """Algorithm 1 as printed: within each iteration the items in order, each against the group averages left
    by the moves before it (a loop over positions, vectorised over the batch)."""
    n_groups = p.shape[-1]
    assign = torch.full(valid.shape, -1, dtype=torch.long, device=p.device)
    total = p.new_zeros(p.shape[0], n_groups)  # Σ p_{g←j} over the items in g
    count = p.new_zeros(p.shape[0], n_groups)
    rows = torch.arange(p.shape[0], device=p.device)
    for _ in range(int(iterations)):
        for j in range(p.shape[1]):
            avg = total / count.clamp_min(1.0)
            xi = torch.log(base + torch.relu(avg - p[:, j])) / math.log(base)
            best, group = (p[:, j] / xi).max(-1)
            old = assign[:, j]
            move = valid[:, j] & (group != old) & (best > epsilon)
            had = move & (old >= 0)
            total[rows[had], old[had]] -= p[rows[had], j, old[had]]
            count[rows[had], old[had]] -= 1.0
            total[rows[move], group[move]] += p[rows[move], j, group[move]]
            count[rows[move], group[move]] += 1.0
            assign[:, j] = torch.where(move, group, old)
    return assign


def interest_routing(p: torch.Tensor, valid: torch.Tensor, iterations: int = 3, base: float = 2.0,
                     epsilon: float = 0.1, order: str = "parallel") -> tuple[torch.Tensor, torch.Tensor]:
    """Algorithm 1 over a batch: ``(assign [B, L]`` (−1: in no group), ``weight [B, L])`` where ``weight`` is the
    discounted score p^(d) of the item's final group under the final group averages (0 when unassigned).
    ``order`` (module doc): ``parallel`` moves all items of an iteration together against the averages of the
    previous iteration, ``sequential`` visits them one by one as the paper does, ``argmax`` sends every valid
    item to its best-scoring group without discount or threshold (no routing). The assignment is discrete:
    gradients reach ``p`` through ``weight`` only."""
    if order not in ROUTING_ORDERS:
        raise ValueError(f"routing order '{order}' is not one of {ROUTING_ORDERS}")
    with torch.no_grad():
        fixed = p.detach()
        assign = torch.full(valid.shape, -1, dtype=torch.long, device=p.device)
        if order == "argmax":
            assign = torch.where(valid, fixed.argmax(-1), assign)
        elif order == "sequential":
            assign = _sequential_assignment(fixed, valid, iterations, base, epsilon)
        else:
            for _ in range(int(iterations)):
                best, group = discounted_scores(fixed, assign, base).max(-1)
                move = valid & (group != assign) & (best > epsilon)
                assign = torch.where(move, group, assign)
    scores = p if order == "argmax" else discounted_scores(p, assign, base)
    weight = scores.gather(-1, assign.clamp_min(0)[..., None]).squeeze(-1)
    return assign, weight * (assign >= 0)


class TemporalMasks(nn.Module):
    """Group representations r_g ``[B, s, d]`` from p parallel exponential-decay masks (eq. 5–7). ``n_groups``:
    one W^k_g per group (eq. 5's subscript); None: W^k shared by the groups. ``merge_layers``: the depth of
    eq. 7's MLP (2 as printed: Linear, ReLU, Linear)."""

    def __init__(self, dim: int, n_masks: int, decay_init: tuple[float, float] = (0.05, 2.0),
                 n_groups: int | None = None, merge_layers: int = 1):
        super().__init__()
        shape = (n_masks, dim, dim) if n_groups is None else (n_groups, n_masks, dim, dim)
        self.bilinear = nn.Parameter(torch.randn(*shape) / dim)  # W^k (or W^k_g)
        # ω_k = softplus(θ_k) > 0, initialised log-spaced over decay_init so the masks start at different scales
        omega = torch.logspace(math.log10(decay_init[0]), math.log10(decay_init[1]), n_masks)
        self.decay_param = nn.Parameter(torch.log(torch.expm1(omega)))
        self.merge = mlp([n_masks * dim] + [dim] * int(merge_layers), nn.ReLU)

    @property
    def omega(self) -> torch.Tensor:
        return F.softplus(self.decay_param)

    def forward(self, x: torch.Tensor, assign: torch.Tensor, n_groups: int) -> torch.Tensor:
        member = F.one_hot(assign + 1, n_groups + 1)[..., 1:].to(x.dtype)  # [B, L, s]
        rank = ((member.cumsum(1) - 1.0) * member).sum(-1)  # position of each item inside its group
        same = (assign[:, :, None] == assign[:, None, :]) & (assign[:, :, None] >= 0)
        gap = rank[:, :, None] - rank[:, None, :]  # i − j
        earlier = same & (gap > 0)
        decay = torch.exp(-gap.clamp_min(0)[:, None] * self.omega[None, :, None, None]) * earlier[:, None]
        if self.bilinear.dim() == 3:
            q = torch.einsum("bid,kde,bje->bkij", x, self.bilinear, x)  # eq. 5, [B, p, L, L]
        else:  # W^k_g of item i's group (pairs across groups are masked out below)
            xw = torch.einsum("bid,gkde->bgkie", x, self.bilinear)  # [B, s, p, L, d]
            group = assign.clamp_min(0)[:, None, None, :, None].expand(-1, 1, *xw.shape[2:])
            q = torch.einsum("bkie,bje->bkij", xw.gather(1, group).squeeze(1), x)
        m = torch.einsum("bkij,bjd->bkid", decay * q, x)  # eq. 7, m^k_i
        r = torch.einsum("bis,bkid->bskd", member, m)  # r^k_g = Σ_{i in g} m^k_i
        return self.merge(r.flatten(2))


class InterestMask(nn.Module):
    """h_p = Σ_g ŵ_pg r_g with ŵ = 1[softmax_g(c_pᵀ W_h r_g) > τ] (eq. 8–10); returns ``(h, w)``.
    The 0/1 mask passes the gradient of w straight through (see ``graphrec.models.ctr.mtin``)."""

    def __init__(self, dim: int, threshold: float):
        super().__init__()
        self.bilinear = nn.Linear(dim, dim, bias=False)  # W_h
        self.threshold = float(threshold)

    def forward(self, memory: torch.Tensor, groups: torch.Tensor, present: torch.Tensor
                ) -> tuple[torch.Tensor, torch.Tensor]:
        logits = memory @ self.bilinear(groups).transpose(1, 2)  # [B, s (p), s (g)]
        logits = logits.masked_fill(~present[:, None, :], float("-inf"))
        w = torch.softmax(logits, -1).nan_to_num(0.0)  # a user without any grouped item: all 0
        hard = (w > self.threshold).to(w.dtype)
        mask = hard + w - w.detach()
        return mask @ groups, w
