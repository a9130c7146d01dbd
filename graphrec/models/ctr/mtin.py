"""MTIN: Multi-scale Time-aware user Interest modeling Network (Jiang, Wang, Wei, Gao, Wang & Nie, ACM MM 2020),
a click-through model for ``eval=ctr``.

Per branch (the clicked history H_pos and, with its own parameters and memory, the non-clicked H_neg; §4.3):
1. interest group routing unit: matching scores p_{g←j} of every history item against the user's interest
   memory M_u = [c_1 … c_s] (item–group co-attention, eq. 2–4), then Algorithm 1 (discount ξ_g, threshold ε)
   assigns each item to at most one group (``graphrec.models.ctr.mtin_layers``);
2. item-level temporal mask network: p parallel exponential-decay masks inside each group give r_g (eq. 5–7);
3. group-level interest mask network: h_p = Σ_g 1[w_pg > τ] r_g (eq. 8–10); the slot's representation is
   c_p + r_p + h_p (the item- and group-level interests summed and added to the memory slot, §4.3);
4. q = Σ_p (c_p + r_p + h_p) (eq. 11) and a two-layer MLP on [q ; x_e] gives P(x_e | H).
The click logit is the linear combination a · P(x_e | H_pos) + b · P(x_e | H_neg) + c (§4.4), trained with the
log loss of eq. 12 plus λ/2 · the squared norm of the embedding and memory rows a batch uses.

Items: an ID embedding plus a projection of the item's features (all modalities, standardised) where the dataset
has features (visual on MicroVideo-1.7M / KuaiShou; genres on MovieLens); ID embeddings only otherwise
(the KuaiRand log here). Variants: ``memory_init: random`` is MTIN-P, ``n_groups: 1`` is MTIN-I.

``variant: paper`` (the default) is the printed model and ``variant: extended`` the model with the additions
below (the default until 2026-12-07: on validation AUC the printed model won, KuaiRand like/hate 0.8046 ± 0.0005
against 0.7998 ± 0.0007 over 3 seeds, ML-100K on every seed run; ``benchmarks/README.md``, "MTIN ablation"). Each
addition is a switch of its own (a switch left null takes its variant's value, so ``variant=paper readout=target``
is the printed model with one addition) — printed → extended:
``affinity`` false → true and ``squash`` false → true (eq. 4 as printed, or + γ cos and a sigmoid);
``readout`` sum (eq. 11) → target; ``user_embedding`` false → true; ``memory_momentum`` 1 (no moving-average
memory) → 0.9; ``group_weight`` straight_through (an item enters its group whole, forward value 1, the gradient of
its discounted score passed through, so the matching network still learns) → score; ``per_group_masks`` true
(W^k_g, eq. 5) → false (shared W^k); ``merge_layers`` 2 (eq. 7's MLP: Linear, ReLU, Linear) → 1;
``routing`` sequential (Algorithm 1's order) → parallel; ``epsilon`` 0 (raw eq. 4 scores: a positive discounted
score joins a group; the paper gives no value) → 0.1 (for scores in (0, 1)). The paper's components can be
removed one by one for the ablation: ``temporal_masks: false`` (eq. 5–7: r_g is the sum of its weighted items),
``interest_mask: false`` (eq. 8–10: h_p = 0), ``use_negative: false`` (the H_neg branch), ``routing: argmax``
(Algorithm 1: every item to its best-scoring group, no discount ξ, no ε). What each does on real data
(``benchmarks/README.md``, "MTIN ablation"): on KuaiRand like/hate (3 seeds) the temporal masks help (validation
AUC −0.008 without them) and the interest mask, the H_neg branch and the routing do not — without each, the
extended model's validation AUC is equal or higher; on ML-100K (3 seeds) none of the four helps on validation
(without the H_neg branch validation AUC even rises by 0.004). No unit helps on both.

Choices and deviations, with reasons:
- The paper does not say how M_u is pre-trained. Here it is initialised (``init_from_training``) as the k-means
  centres (s clusters, a few Lloyd steps, vectorised over users) of the initial item vectors of the user's last
  ``memory_init_items`` training clicks (non-clicks for the H_neg memory), then learned with the model; MTIN-P
  starts it at N(0, 0.01²) and learns it the same way. On a dataset without item features (the KuaiRand log
  here) the initial item vectors are random ID embeddings, so this "pre-training" is k-means over random vectors:
  MTIN-P against MTIN means nothing there (a log line says so); only with content features (MovieLens' genres and
  titles) does it see something real. "Added to the memory" is read as the sum
  c_p + r_p + h_p of the slot's prediction input; the stored memory moves only as described below.
- Matching scores are squashed by a sigmoid: Algorithm 1 divides p by ξ_g ≥ 1, which only lowers a score when
  it is positive, and ε is then a threshold in (0, 1). Before the sigmoid the co-attended affinity
  γ cos(x̂_j, ĉ_g) (γ learned, initialised at 5) is added to eq. 4's MLP output: the routing (and its discount, which lowers scores under a group's average)
  presumes that a score measures how well an item fits a group, and an MLP on the concatenation [x̂ ; ĉ] starts
  without any notion of similarity. Without it, on the synthetic world with planted false clicks the planted
  items got a higher mean group weight than true clicks (0.332 vs 0.313); see tests/test_mtin.py.
- The routing is vectorised: all items of an iteration move at once against the previous iteration's group
  averages (the paper visits the items one by one, each seeing the moves before it). An empty group has
  average 0, so the first iteration assigns every item whose score passes ε to its best slot.
- The discrete assignment carries no gradient; each item enters its group scaled by its discounted score
  p^(d) (its "group weight"), which lets the co-attention learn and is the discount's effect on the groups.
- Eq. 9's 0/1 mask has no gradient, which would leave W_h untrained; its gradient is passed straight through
  from w (forward values are the paper's 0/1).
- Masks decay over positions inside a group (eq. 6's i − j), not wall-clock time. ω_k = softplus(θ_k) starts
  log-spaced so that the p masks begin at different scales. W^k is shared by the groups (the group index is
  only a memory slot, the same for every user, so per-group weights would tie a mask to an arbitrary slot).
- ``readout``: eq. 11 sums the s slots into one q, which is blind to the candidate, so a user's several
  interests collapse into one vector before the MLP sees x_e. With ``readout: target`` (the default of
  ``conf/model/mtin.yaml``) the candidate attends over the slots, q = s · Σ_p softmax_p(slot_pᵀ x_e / √d) slot_p;
  ``readout: sum`` is the paper's. On the synthetic world with three interests per user (d = 32, 12 epochs)
  sum reached test AUC .690–.750, about LSTM's .709–.724, and target .748–.775.
- The memory also moves during training toward the weighted centre of the items routed to each slot
  (c ← μ c + (1 − μ) centre, μ = ``memory_momentum``): MTIN-P's description ("only update it by group
  representations during the training process") says the memory is updated from the groups; gradients alone
  let the slots drift away from the items, and the matching scores then stopped telling planted false clicks
  from true ones. μ = 1 turns it off.
- §5.1 names a d-dimensional user embedding without placing it in the equations; with ``user_embedding``
  (default) an ID embedding e_u is added to q in both branches. On the KuaiRand log global AUC is dominated by
  how often each user clicks, which a memory pulled toward item centres cannot hold.
- σ in eq. 2 and 4 is ReLU.
"""

from __future__ import annotations

import logging

import numpy as np
import torch
from torch import nn

from graphrec.data.histories import HistoryIndex
from graphrec.errors import ConfigError
from graphrec.models.ctr.common import ClickModel, ItemVectors, history
from graphrec.models.layers.mlp import mlp
from graphrec.models.ctr.mtin_layers import InterestMask, MatchingScores, TemporalMasks, interest_routing

log = logging.getLogger("graphrec")


# the switches that tell the extended model from the printed one (``variant``); each is also a config key
EXTENDED = {"affinity": True, "squash": True, "readout": "target", "user_embedding": True, "memory_momentum": 0.9,
           "group_weight": "score", "per_group_masks": False, "merge_layers": 1, "routing": "parallel",
           "epsilon": 0.1}
PAPER = {"affinity": False, "squash": False, "readout": "sum", "user_embedding": False, "memory_momentum": 1.0,
         "group_weight": "straight_through", "per_group_masks": True, "merge_layers": 2, "routing": "sequential",
         "epsilon": 0.0}
CHOICES = {"readout": ("sum", "target"), "group_weight": ("score", "straight_through"),
           "routing": ("parallel", "sequential", "argmax"), "memory_init": ("kmeans", "random"),
           "variant": ("paper", "extended")}


class InterestBranch(nn.Module):
    """One branch (H_pos or H_neg): routing, temporal masks, interest mask, prediction MLP."""

    def __init__(self, n_users: int, dim: int, n_groups: int, n_masks: int, threshold: float, hidden: int,
                 momentum: float, readout: str, affinity: bool = True, squash: bool = True,
                 group_weight: str = "score", per_group_masks: bool = False, merge_layers: int = 1,
                 temporal_masks: bool = True, interest_mask: bool = True):
        super().__init__()
        self.n_groups, self.dim, self.momentum, self.readout = int(n_groups), int(dim), float(momentum), readout
        self.group_weight = group_weight
        self.memory = nn.Embedding(n_users, n_groups * dim)
        nn.init.normal_(self.memory.weight, std=0.01)
        self.matching = MatchingScores(dim, affinity=affinity, squash=squash)
        self.temporal = TemporalMasks(dim, n_masks, n_groups=n_groups if per_group_masks else None,
                                      merge_layers=merge_layers) if temporal_masks else None
        self.interest = InterestMask(dim, threshold) if interest_mask else None
        self.predictor = mlp([2 * dim, hidden, 1], nn.ReLU)

    def group_representations(self, x: torch.Tensor, assign: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        """r_g ``[B, s, d]``: eq. 5–7 over the items routed to g, each entering with its group weight (``score``:
        its discounted score p^(d); ``straight_through``: 1, the gradient of p^(d) passed through); without the
        temporal masks, the sum of the group's weighted items."""
        scale = weight if self.group_weight == "score" else weight - weight.detach() + (assign >= 0).to(x.dtype)
        x = scale[..., None] * x
        if self.temporal is None:
            member = torch.nn.functional.one_hot(assign + 1, self.n_groups + 1)[..., 1:].to(x.dtype)
            return member.transpose(1, 2) @ x
        return self.temporal(x, assign, self.n_groups)

    def forward(self, user: torch.Tensor, x: torch.Tensor, valid: torch.Tensor, target: torch.Tensor,
                routing: dict, profile: torch.Tensor | None = None
                ) -> tuple[torch.Tensor, torch.Tensor, dict[str, torch.Tensor]]:
        memory = self.memory(user).view(-1, self.n_groups, self.dim)
        p = self.matching(x, memory)
        assign, weight = interest_routing(p, valid, **routing)
        groups = self.group_representations(x, assign, weight)
        present = (assign[:, :, None] == torch.arange(self.n_groups, device=x.device)).any(1)  # [B, s]
        groups = groups * present[..., None]
        if self.interest is not None:
            h, w = self.interest(memory, groups, present)
        else:
            h, w = torch.zeros_like(groups), groups.new_zeros(groups.shape[0], self.n_groups, self.n_groups)
        slots = memory + groups + h  # [B, s, d]: c_p + r_p + h_p
        if self.readout == "sum":
            q = slots.sum(1)  # eq. 11
        else:  # "target": the candidate attends over the slots
            attend = torch.softmax((slots @ target[:, :, None]).squeeze(-1) / self.dim ** 0.5, -1)
            q = (attend[..., None] * slots).sum(1) * self.n_groups
        if profile is not None:
            q = q + profile
        logit = self.predictor(torch.cat([q, target], -1)).squeeze(-1)
        if self.training and self.momentum < 1.0:
            self.update_memory(user, x, assign, weight)
        return logit, memory.pow(2).sum(), {"assign": assign, "weight": weight, "attention": w, "scores": p}


    @torch.no_grad()
    def update_memory(self, user: torch.Tensor, x: torch.Tensor, assign: torch.Tensor, weight: torch.Tensor) -> None:
        """c_ug ← μ c_ug + (1 − μ) · (the weighted mean of the items routed to g), for each group with items
        (a user twice in the batch gets the mean of its rows' centres)."""
        member = torch.nn.functional.one_hot(assign + 1, self.n_groups + 1)[..., 1:].to(x.dtype) * weight[..., None]
        mass = member.sum(1)  # [B, s]
        centre = member.transpose(1, 2) @ x / mass.clamp_min(1e-12)[..., None]  # [B, s, d]
        has = (mass > 0).to(x.dtype)
        rows, slot = torch.unique(user, return_inverse=True)  # the batch's users only, not all n_users
        total = x.new_zeros(rows.numel(), self.n_groups, self.dim).index_add_(0, slot, centre * has[..., None])
        count = x.new_zeros(rows.numel(), self.n_groups).index_add_(0, slot, has)
        old = self.memory.weight[rows].view(-1, self.n_groups, self.dim)
        seen = count > 0
        mean = total / count.clamp_min(1.0)[..., None]
        new = torch.where(seen[..., None], self.momentum * old + (1.0 - self.momentum) * mean, old)
        self.memory.weight[rows] = new.flatten(1)


class MTIN(ClickModel):
    def __init__(self, n_users: int, n_items: int, features: dict[str, torch.Tensor] | None = None,
                 embedding_dim: int = 128, n_groups: int = 4, n_masks: int = 8, routing_iterations: int = 3,
                 discount_base: float = 2.0, epsilon: float | None = None, threshold: float = 0.1,
                 hidden: int = 128, use_negative: bool = True, memory_init: str = "kmeans",
                 memory_init_items: int = 50, memory_momentum: float | None = None, readout: str | None = None,
                 user_embedding: bool | None = None, use_features: bool = True, reg_weight: float = 1e-4,
                 variant: str = "paper", affinity: bool | None = None, squash: bool | None = None,
                 group_weight: str | None = None, per_group_masks: bool | None = None,
                 merge_layers: int | None = None, routing: str | None = None, temporal_masks: bool = True,
                 interest_mask: bool = True):
        super().__init__(n_users, n_items)
        if variant not in CHOICES["variant"]:
            raise ConfigError(f"model.variant: 'paper' (the printed model) or 'extended', got '{variant}'")
        given = {"affinity": affinity, "squash": squash, "readout": readout, "user_embedding": user_embedding,
                 "memory_momentum": memory_momentum, "group_weight": group_weight,
                 "per_group_masks": per_group_masks, "merge_layers": merge_layers, "routing": routing,
                 "epsilon": epsilon}
        # a switch left at None takes its variant's value (module doc): variant=paper is the printed model
        self.switches = {k: v if v is not None else (PAPER if variant == "paper" else EXTENDED)[k]
                         for k, v in given.items()}
        sw = {**self.switches, "memory_init": memory_init}
        for key, allowed in CHOICES.items():
            if key in sw and sw[key] not in allowed:
                raise ConfigError(f"model.{key}: expected one of {', '.join(allowed)}, got '{sw[key]}'")
        d = int(embedding_dim)
        self.items = ItemVectors(n_items, d, features, use_features)
        self.user_emb = None
        if sw["user_embedding"]:
            self.user_emb = nn.Embedding(n_users, d)
            nn.init.normal_(self.user_emb.weight, std=0.01)
        self.routing = {"iterations": int(routing_iterations), "base": float(discount_base),
                        "epsilon": float(sw["epsilon"]), "order": sw["routing"]}
        branches = ("pos", "neg") if use_negative else ("pos",)
        self.branches = nn.ModuleDict({b: InterestBranch(
            n_users, d, n_groups, n_masks, threshold, hidden, sw["memory_momentum"], sw["readout"],
            affinity=sw["affinity"], squash=sw["squash"], group_weight=sw["group_weight"],
            per_group_masks=sw["per_group_masks"], merge_layers=int(sw["merge_layers"]),
            temporal_masks=temporal_masks, interest_mask=interest_mask) for b in branches})
        self.combine = nn.Linear(len(branches), 1)  # a · P(x_e | H_pos) + b · P(x_e | H_neg) + c
        with torch.no_grad():
            self.combine.weight.copy_(torch.tensor([1.0, -1.0][:len(branches)]))
            self.combine.bias.zero_()
        self.memory_init, self.memory_init_items = memory_init, int(memory_init_items)
        self.reg_weight = float(reg_weight)

    def run(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor, dict[str, dict]]:
        user = batch["user"]
        target = self.items(batch["item"])
        used = target.pow(2).sum()
        logits, details = [], {}
        profile = None
        if self.user_emb is not None:
            profile = self.user_emb(user)
            used = used + profile.pow(2).sum()
        for name, branch in self.branches.items():
            items, _, valid = history(batch, name)
            x = self.items(items)
            logit, memory_norm, details[name] = branch(user, x, valid, target, self.routing, profile)
            logits.append(logit)
            used = used + memory_norm + (x.pow(2).sum(-1) * valid).sum()
        return self.combine(torch.stack(logits, -1)).squeeze(-1), used / user.numel(), details

    def forward(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        logit, used, _ = self.run(batch)
        return logit, used

    @torch.no_grad()
    def explain(self, batch: dict[str, torch.Tensor]) -> dict[str, dict[str, torch.Tensor]]:
        """Per branch: the routing's ``assign`` and ``weight`` [B, L], the interest-mask attention w [B, s, s]
        and the matching scores [B, L, s] (for ``graphrec viz groups`` and the tests)."""
        return self.run(batch)[2]

    def decay_curves(self, steps: int = 20) -> dict[str, torch.Tensor]:
        """exp(−Δ ω_k) for Δ = 0 … steps − 1, per branch: ``[p, steps]``."""
        delta = torch.arange(steps, dtype=torch.float32)
        return {name: torch.exp(-delta[None, :] * b.temporal.omega.detach().cpu()[:, None])
                for name, b in self.branches.items()}

    @torch.no_grad()
    def init_from_training(self, user: torch.Tensor, item: torch.Tensor, click: torch.Tensor,
                           time: torch.Tensor) -> None:
        """Pre-train each branch's memory as k-means centres of the user's last training (non-)clicks."""
        if self.memory_init != "kmeans":
            return
        if self.items.content is None:
            log.info("mtin: memory_init=kmeans on ID-only items is k-means over random initial embeddings, not a "
                     "pre-training on content (MTIN and MTIN-P differ only in that random start here)")
        for name, branch in self.branches.items():
            keep = click == (1 if name == "pos" else 0)
            index = HistoryIndex(user[keep].cpu().numpy(), item[keep].cpu().numpy(), time[keep].cpu().numpy())
            after_all = np.full(self.n_users, time.max().item() + 1, dtype=time.cpu().numpy().dtype)
            hist = index.query(np.arange(self.n_users), after_all, self.memory_init_items, pad=self.n_items)
            items = torch.from_numpy(hist.items).to(self.items.emb.weight.device)
            valid = torch.from_numpy(hist.mask).to(items.device)
            for lo in range(0, self.n_users, 1024):
                rows = slice(lo, lo + 1024)
                centres = kmeans_centres(self.items(items[rows]), valid[rows], branch.n_groups)
                has = valid[rows].any(1)
                weight = branch.memory.weight[rows].view(-1, branch.n_groups, branch.dim)
                weight[has] = centres[has]


def kmeans_centres(x: torch.Tensor, valid: torch.Tensor, k: int, steps: int = 10) -> torch.Tensor:
    """k-means centres ``[B, k, d]`` of each row's valid vectors of ``x`` [B, M, d] (Lloyd steps from k
    evenly spaced members; a centre that loses every member keeps its place)."""
    count = valid.sum(1).clamp_min(1)
    start = (torch.arange(k, device=x.device)[None, :] * count[:, None]) // k  # evenly spaced members
    centres = x.gather(1, start[..., None].expand(-1, -1, x.shape[-1]))
    for _ in range(steps):
        nearest = torch.cdist(x, centres).argmin(-1)  # [B, M]
        member = torch.nn.functional.one_hot(nearest, k).to(x.dtype) * valid[..., None]
        size = member.sum(1)  # [B, k]
        mean = member.transpose(1, 2) @ x / size.clamp_min(1.0)[..., None]
        centres = torch.where(size[..., None] > 0, mean, centres)
    return centres
