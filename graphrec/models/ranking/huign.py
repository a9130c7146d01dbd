"""HUIGN: Hierarchical User Intent Graph Network (Wei et al., IEEE TKDE; ``../shared/papers/004``).

Per modality m, on the co-interacted item graph A (items co-interacted by ≥ ``min_users`` users, §4.1.1,
binary as eq. 2, from the training split), for levels l = 1..L with K^(l) supernodes (default {32, 8, 4}):
- intra-level aggregation (eq. 4): Z^(l−1) = D^-1/2 A^(l−1) D^-1/2 X^(l−1), with X^(0) the item features
  and X^(l) (l ≥ 1) the learnable supernodes of level l (eq. 5);
- inter-level aggregation (eq. 6–7): γ_ik = softmax_k(z_iᵀ x_k^(l)), Γ^(l) ∈ R^{K^(l−1) × K^(l)};
- next-level graph (eq. 8): A^(l) = Γ^(l)ᵀ A^(l−1) Γ^(l), computed as Γᵀ(AΓ) with A sparse at level 1 and
  small dense K × K matrices above;
- entropy loss (eq. 9): L1^(l) = −(1/K^(l)) Σ_k γ_ik ln γ_ik, averaged over the nodes of level l−1;
- independence loss (eq. 10): L2^(l) = (1/K^(l)) ‖X^(l) X^(l)ᵀ − I‖_F on the supernodes;
- item representation (eq. 11–12): x̂^(1)_i = γ_i^(1) (item i's row of Γ^(1)), x̂^(l) = x̂^(l−1) Γ^(l),
  v_i = x̂^(1) ‖ … ‖ x̂^(L); users are trainable vectors over the same intents (eq. 13);
- modalities summed (eq. 14); ID embeddings concatenated (eq. 15): ū = [û ‖ u*], v̄ = [v̂ ‖ v*];
- BPR (eq. 17); total (eq. 18): L = BPR + λ1 Σ_l L1 + λ2 Σ_l L2 + λ3 ‖θ_batch‖², with λ1, λ2 separate
  weights (``lambda_entropy``, ``lambda_independence``).

Choices where the paper is silent or inconsistent, and deviations from the official code:
- eq. 11 as printed (x̂ = x_iᵀ Γ^(1)) does not type-check; we read it as the item's assignment distribution,
  which is what "distribution over the discovered intents" (§3.2.3) describes;
- eq. 10 as printed uses XᵀX (D × D) against a K × K identity; we use X Xᵀ (K × K, supernode independence)
  and the Frobenius norm;
- raw feature dimensions differ by modality while supernodes live in one space: each modality is first mapped
  to ``dim`` by a learnable linear layer (``project: false`` keeps the raw dimension, supernodes then have it);
- ``self_loops: true`` (default) uses A + I: on TikTok at m = 5 about two thirds of the items have no
  co-interacted neighbour and would get Z = 0, hence one identical uniform intent distribution; with the loop
  an item keeps its own content signal. ``self_loops: false`` is the printed eq. 4;
- ``learn_scale: true`` (default) multiplies the affinities of eq. 6 by a learnable per-level factor
  exp(s_l): s_1 starts at 0 (eq. 6 exactly), s_l for l ≥ 2 at ½ ln D (factor sqrt(D)). Without it the higher levels cannot become
  sharp: eq. 10 drives the supernodes to unit norm and eq. 4 normalises the aggregation, so at levels ≥ 2
  |z_iᵀx_k| stays near or below 1 and the softmax of eq. 7 stays close to uniform whatever eq. 9 asks
  (measured on the synthetic world: level-2/3 assignment entropies equal ln 8 and ln 4, every item with the
  same top-level intent). ``learn_scale: false`` is the printed eq. 6;
- eq. 8 uses the (binary, looped) adjacency A itself; eq. 4's normalisation is applied when aggregating;
- the regulariser λ3‖θ‖² is applied to the parameters a batch touches (ID embeddings and user intent vectors
  of the batch), averaged over the batch, as in LightGCN;
- official code defects not copied: the entropy and independence terms are two losses with their own weights
  (the code aliases them to one tensor); no dense N × N item graph (the graph is sparse); evaluation masks
  training items with −inf, uses the exact IDCG and selects on validation (the toolkit's evaluator).

Switches for the causes of HUIGN trailing MF on TikTok (issue 21; ``benchmarks/README.md`` "HUIGN ablation"
has what each does on TikTok and ML-100K). Each is a deviation from the printed model when not at its
paper value; ``variant: paper`` sets every switch, ``self_loops`` and ``learn_scale`` to the printed
equations at once (ignoring their own values):
- ``feature_norm`` (paper ``none``): ``center`` subtracts the mean item feature, ``standardize`` also divides
  each dimension by its standard deviation (over all items: content, not interactions). In TikTok's visual
  features the median row has 87% of its energy along the mean direction (median pairwise cosine 0.86;
  acoustic 44% and 0.14), so eq. 6's affinities are dominated by one term every item shares;
- ``edge_weight`` (paper ``binary``): ``count`` keeps the number of co-interacting users as the edge weight
  (C = RᵀR of §4.1.1, before eq. 2 binarises it); ``top_k`` (paper ``null``) keeps each item's k strongest
  edges, then takes the union A ∪ Aᵀ so that A stays symmetric. At min_users = 5 the TikTok training graph
  links 2,310 items (82.5% of the training interactions; median 201.5 neighbours) and leaves 4,400 isolated;
- ``aggregation`` (paper ``symmetric``, eq. 4): ``row`` is D^-1 A X, the neighbourhood mean, whose output norm
  does not grow with √degree (so intents cannot separate popular from long-tail items by norm alone);
- ``scoring`` (paper ``summed``, eq. 14): ``per_modality`` scores Σ_m ⟨u^m, v^m⟩, user and item intents of one
  modality against each other, instead of ⟨Σ_m u^m, Σ_m v^m⟩, which mixes intent k of one modality's
  hierarchy with the unrelated intent k of another.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from graphrec.errors import ConfigError
from graphrec.graphs.normalize import add_self_loops, row, symmetric
from graphrec.graphs.sparse import SparseGraph
from graphrec.graphs.store import GraphSpec
from graphrec.losses import bpr_loss, l2_regularization, pairwise_scores
from graphrec.models.base import Recommender


PAPER = {"feature_norm": "none", "edge_weight": "binary", "top_k": None, "aggregation": "symmetric",
         "scoring": "summed", "self_loops": False, "learn_scale": False}
CHOICES = {"feature_norm": ("none", "center", "standardize"), "edge_weight": ("binary", "count"),
           "aggregation": ("symmetric", "row"), "scoring": ("summed", "per_modality"), "variant": ("toolkit", "paper")}


def _dense_norm(adj: torch.Tensor, aggregation: str = "symmetric") -> torch.Tensor:
    """D^-1/2 A D^-1/2 (or D^-1 A for ``row``) for a small dense matrix (levels ≥ 2)."""
    deg = adj.sum(1)
    if aggregation == "row":
        return torch.where(deg[:, None] > 0, adj / deg.clamp(min=1e-12)[:, None], torch.zeros_like(adj))
    inv = torch.where(deg > 0, deg.clamp(min=1e-12).rsqrt(), torch.zeros_like(deg))
    return inv[:, None] * adj * inv[None, :]


def normalized_features(x: torch.Tensor, how: str) -> torch.Tensor:
    """``none`` | ``center`` (x − mean over items) | ``standardize`` ((x − mean) / std per dimension)."""
    if how == "none":
        return x
    x = x - x.mean(0, keepdim=True)
    return x / x.std(0, keepdim=True).clamp(min=1e-6) if how == "standardize" else x


def entropy_loss(gamma: torch.Tensor) -> torch.Tensor:
    """eq. 9: −(1/K) Σ_k γ_k ln γ_k, averaged over rows."""
    return -(gamma * torch.log(gamma.clamp(min=1e-12))).sum(1).mean() / gamma.shape[1]


def independence_loss(supernodes: torch.Tensor) -> torch.Tensor:
    """eq. 10 (read as supernode independence): (1/K) ‖X Xᵀ − I‖_F."""
    k = supernodes.shape[0]
    gram = supernodes @ supernodes.T
    return torch.linalg.norm(gram - torch.eye(k, device=gram.device, dtype=gram.dtype)) / k


def split_symmetric(graph: SparseGraph) -> tuple[SparseGraph, torch.Tensor]:
    """(strict upper triangle U, diagonal d) of a symmetric graph: A = U + Uᵀ + diag(d)."""
    row, col, values = graph.row, graph.col, graph.values
    upper = row < col
    diag = torch.zeros(graph.shape[0], dtype=values.dtype, device=values.device)
    diag = diag.index_add(0, row[row == col], values[row == col])
    return SparseGraph.from_coo(row[upper], col[upper], values[upper], graph.shape), diag


def coarsened_adjacency(gamma: torch.Tensor, upper: SparseGraph, diag: torch.Tensor) -> torch.Tensor:
    """eq. 8 at level 1, Γᵀ A Γ for symmetric A = U + Uᵀ + diag(d): with M = Γᵀ(UΓ) it is
    M + Mᵀ + Γᵀ diag(d) Γ, so the sparse products (forward and backward) touch each co-interaction edge once
    instead of twice."""
    m = gamma.T @ (upper @ gamma)
    return m + m.T + (gamma * diag[:, None]).T @ gamma


class IntentHierarchy(nn.Module):
    """One modality's levels: supernodes per level and the assignment matrices Γ^(1..L)."""

    def __init__(self, in_dim: int, dim: int, levels: list[int], project: bool, learn_scale: bool = True,
                 aggregation: str = "symmetric"):
        super().__init__()
        self.aggregation = aggregation
        self.proj = nn.Linear(in_dim, dim, bias=False) if project else None
        width = dim if project else in_dim
        self.supernodes = nn.ParameterList([nn.Parameter(torch.empty(k, width)) for k in levels])
        for p in self.supernodes:
            nn.init.xavier_uniform_(p)
        # log of a learnable inverse temperature per level; see the module docstring. Level 1 starts at eq. 6
        # exactly; levels ≥ 2, whose inputs are unit-norm supernodes, start at sqrt(width) so that their
        # affinities start with unit spread instead of ~1/sqrt(width)
        init = torch.full((len(levels),), 0.5 * math.log(width))
        init[0] = 0.0
        self.log_scale = nn.Parameter(init) if learn_scale else None
        if self.proj is not None:
            nn.init.xavier_uniform_(self.proj.weight)

    def forward(self, smoothed: torch.Tensor, upper: SparseGraph, diag: torch.Tensor
                ) -> tuple[list[torch.Tensor], torch.Tensor, torch.Tensor]:
        """Assignments [Γ^(1), …, Γ^(L)] and the summed entropy / independence losses.

        ``smoothed`` is D^-1/2 A D^-1/2 X (fixed), so eq. 4 at level 1 is Z = smoothed · Wᵀ: the linear map
        commutes with the aggregation, and no sparse product is needed for it per step. Eq. 6 at level 1 is then
        computed as smoothed · (X^(1) W)ᵀ: the small K × d_in product first, so the items are multiplied by K
        columns instead of d. The learnable scale multiplies the supernodes, not the n × K affinities.
        ``upper`` and ``diag`` are A for eq. 8 as ``split_symmetric`` returns it.
        """
        gammas: list[torch.Tensor] = []
        ent = smoothed.new_zeros(())
        ind = smoothed.new_zeros(())
        adj = torch.empty(0)
        for level, sup in enumerate(self.supernodes):
            scaled = sup * self.log_scale[level].exp() if self.log_scale is not None else sup
            if level == 0:  # eq. 4 + eq. 6 on the items
                logits = smoothed @ (scaled @ self.proj.weight).T if self.proj is not None else smoothed @ scaled.T
            else:  # eq. 4 on the K × K graph of the previous level, over its supernodes, then eq. 6
                logits = (_dense_norm(adj, self.aggregation) @ self.supernodes[level - 1]) @ scaled.T
            gamma = torch.softmax(logits, dim=1)  # eq. 7
            adj = coarsened_adjacency(gamma, upper, diag) if level == 0 else gamma.T @ adj @ gamma  # eq. 8
            gammas.append(gamma)
            ent = ent + entropy_loss(gamma)
            ind = ind + independence_loss(sup)
        return gammas, ent, ind


class HUIGN(Recommender):
    def __init__(self, n_users: int, n_items: int, features: dict[str, torch.Tensor], embedding_dim: int = 64,
                 dim: int = 64, levels: list[int] | tuple[int, ...] = (32, 8, 4), min_users: int = 5,
                 self_loops: bool = True, project: bool = True, lambda_entropy: float = 0.1,
                 lambda_independence: float = 0.1, reg_weight: float = 1e-4, learn_scale: bool = True,
                 feature_norm: str = "none", edge_weight: str = "binary", top_k: int | None = None,
                 aggregation: str = "symmetric", scoring: str = "summed", variant: str = "toolkit"):
        super().__init__(n_users, n_items)
        switches = dict(feature_norm=feature_norm, edge_weight=edge_weight, top_k=top_k, aggregation=aggregation,
                        scoring=scoring, self_loops=bool(self_loops), learn_scale=bool(learn_scale))
        for key, value in [*switches.items(), ("variant", variant)]:
            if key in CHOICES and value not in CHOICES[key]:
                raise ConfigError(f"model.{key}: expected one of {', '.join(CHOICES[key])}, got '{value}'")
        if variant == "paper":  # the printed equations (module doc)
            switches.update(PAPER)
        self.switches = switches
        self.levels = [int(k) for k in levels]
        self.min_users, self.self_loops = int(min_users), switches["self_loops"]
        self.lambda_entropy, self.lambda_independence, self.reg_weight = lambda_entropy, lambda_independence, reg_weight
        self.register_features({m: normalized_features(f.float(), switches["feature_norm"]) for m, f in features.items()})
        self.hierarchies = nn.ModuleDict({m: IntentHierarchy(features[m].shape[1], dim, self.levels, project,
                                                             switches["learn_scale"], switches["aggregation"])
                                          for m in self.modalities})
        n_intents = sum(self.levels)
        self.user_intents = nn.ParameterDict({m: nn.Parameter(torch.empty(n_users, n_intents)) for m in self.modalities})
        self.user_id = nn.Parameter(torch.empty(n_users, embedding_dim))
        self.item_id = nn.Parameter(torch.empty(n_items, embedding_dim))
        for p in [self.user_id, self.item_id, *self.user_intents.values()]:
            nn.init.xavier_uniform_(p)

    def graph_specs(self) -> dict[str, GraphSpec]:
        params = {"min_users": self.min_users}
        if self.switches["top_k"] is not None:
            params["top_k"] = int(self.switches["top_k"])
        return {"items": GraphSpec("cointeraction", params)}

    def attach_graphs(self, graphs: dict[str, SparseGraph]) -> None:
        g = graphs["items"]
        if self.switches["top_k"] is not None:  # each row's top k, then A ∪ Aᵀ (max weight): symmetric again
            r, c = g.row, g.col
            g = SparseGraph.from_coo(torch.cat([r, c]), torch.cat([c, r]), torch.cat([g.values, g.values]), g.shape,
                                     symmetric=True, reduce="max")
        if self.switches["edge_weight"] == "binary":
            g = g.with_values(torch.ones_like(g.values))  # eq. 2: binary adjacency
        if self.self_loops:  # weight 1 = one co-interacting user (the item itself) under edge_weight=count too
            g = add_self_loops(g, 1.0)
        super().attach_graphs({"items": g})
        self._upper, self._diag = split_symmetric(g)
        norm = symmetric(g) if self.switches["aggregation"] == "symmetric" else row(g)
        with torch.no_grad():  # eq. 4 at level 1 on the fixed features
            self._smoothed = {m: norm @ self.feature(m) for m in self.modalities}

    def _hierarchy(self, m: str) -> tuple[list[torch.Tensor], torch.Tensor, torch.Tensor]:
        device = self.item_id.device
        if self._smoothed[m].device != device:  # the model moved after its graphs were attached
            self._smoothed[m] = self._smoothed[m].to(device)
            self._upper, self._diag = self._upper.to(device), self._diag.to(device)
        return self.hierarchies[m](self._smoothed[m], self._upper, self._diag)

    def intents(self) -> dict[str, list[torch.Tensor]]:
        """Per modality, the item distributions x̂^(1..L) over each level's intents (eq. 11)."""
        return {m: _item_distributions(self._hierarchy(m)[0]) for m in self.modalities}

    def _item_side(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(item intent representations v* [n_items, ΣK] — or [n_items, M·ΣK] per modality —, entropy loss,
        independence loss)."""
        reps = []
        ent = ind = self.item_id.new_zeros(())
        for m in self.modalities:
            gammas, e, i = self._hierarchy(m)
            reps.append(torch.cat(_item_distributions(gammas), dim=1))  # eq. 12
            ent, ind = ent + e, ind + i
        return self._combine(reps), ent, ind

    def _combine(self, per_modality: list[torch.Tensor]) -> torch.Tensor:
        """eq. 14 (Σ_m) or, with ``scoring=per_modality``, the concatenation, so that the dot product of a
        user and an item row is Σ_m ⟨u^m, v^m⟩."""
        return sum(per_modality) if self.switches["scoring"] == "summed" else torch.cat(per_modality, dim=-1)

    def _user_intents(self) -> torch.Tensor:
        """u* (eq. 13–14) for all users."""
        return self._combine(list(self.user_intents.values()))

    def embeddings(self) -> tuple[torch.Tensor, torch.Tensor]:
        item_rep, _, _ = self._item_side()  # eq. 15: ID embeddings ‖ intent representations
        return torch.cat([self.user_id, self._user_intents()], dim=1), torch.cat([self.item_id, item_rep], dim=1)

    def loss(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        item_rep, ent, ind = self._item_side()
        users = batch["user"]
        # eq. 15 on the batch rows only: gathering before concatenating avoids full-table copies per step
        items = self.pairwise_item_ids(batch)
        user_ids, item_ids = self.user_id[users], self.item_id[items]
        intents = [p[users] for p in self.user_intents.values()]
        u = torch.cat([user_ids, self._combine(intents)], dim=-1)
        i, j = self.split_item_rows(torch.cat([item_ids, item_rep[items]], dim=-1), batch)
        pos_score, neg_score = pairwise_scores(u, i, j)
        touched = [user_ids, item_ids, *intents]
        return {"bpr": bpr_loss(pos_score, neg_score),
                "entropy": self.lambda_entropy * ent,
                "independence": self.lambda_independence * ind,
                "reg": self.reg_weight * l2_regularization(*touched, batch_size=u.shape[0])}


def _item_distributions(gammas: list[torch.Tensor]) -> list[torch.Tensor]:
    """eq. 11: x̂^(1) = Γ^(1) rows, x̂^(l) = x̂^(l−1) Γ^(l)."""
    reps = [gammas[0]]
    for gamma in gammas[1:]:
        reps.append(reps[-1] @ gamma)
    return reps
