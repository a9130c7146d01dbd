"""DA-MRS: Denoising and Aligning Multi-modal Recommender System (Xv et al., KDD 2024), a plug-in over a backbone.

A backbone (``backbone``: a registered ranking model with ``embeddings()`` and ``item_id_embeddings()``: lightgcn,
mf, vbpr; ``backbone_args`` override its config) gives user vectors e_u and item vectors e_i whose first d
columns hold its item ID table x. DA-MRS propagates x over item–item graphs and adds the result to the items:

- denoised item–item graphs, one per modality m (graph kind ``consistent_knn``): item i keeps its ``knn_k``
  most m-similar items among those whose cosine similarity is at least its mean in *every* modality (the item
  itself included), binary, a_ij / sqrt(r_i r_j) over row sums;
- the item–item behaviour graph: items sharing ≥ ``behaviour_min_users`` training users, each item's
  ``behaviour_top_k`` heaviest partners (``cointeraction``), binary, plus self-loops, the same normalisation;
- views h^g = Â_g^L x for each graph g (L = ``n_item_layers``, no layer mean), h̄ = mean_g h^g, and the item
  vector e'_i = e_i + [h̄_i ‖ 0]; s_ui = ⟨e_u, e'_i⟩.

Loss = L_DBPR + α L_AI + β L_AU + λ ½Σ‖·‖²/B (α = ``neighbor_weight``, β = ``kl_weight``, λ = ``reg_weight``):
- denoised BPR: for the positive i of u, per view p_g = σ(e_u · n(h^g_i)) with n(·) = ℓ2-normalisation;
  w⁺ = mean_g p_g · exp(−var_g p_g)² and, with n̄ the mean of σ(e_u · n(h^g_j)) over the batch's negatives and
  the views, w⁻ = clamp(max_g p_g − n̄, 0, 1) where mean_g p_g < n̄ (else 0), both without gradient;
  L_DBPR = −mean(w⁺ log σ(s_ui − s_uj) + w⁻ log σ(s_uj − s_ui)) (an unlikely positive is partly reversed);
- alignment guided by graded item relations: per view g and distinct batch item i, c_ij = cos(h^g_i, h^g_j) over
  all items j; pseudo-labels from q^g = softmax_j(c^g_i·) without gradient: P_mm = the ``n_pseudo`` largest of
  Σ_{g'≠g} q^{g'} + 2 q^g (agreed across views), P_g = the ``n_pseudo`` largest of q^g outside P_mm;
  L_AI = mean_{g,i} [−log Σ_{P_mm} e^{c/τ} / Σ_j e^{c/τ} − log Σ_{P_g} e^{c/τ} / (Σ_j e^{c/τ} − Σ_{P_mm} e^{c/τ})];
- alignment guided by user preference: over the batch's distinct users U and items I, p_ui = σ(e_u · n(e_i)) and
  q_ui = σ(e_u · n([h̄_i ‖ 0])); L_AU = mean_ui (KL(p‖q) + KL(q‖p)), Bernoulli KL.

As the official code (XMUDM/DA-MRS, ``src/models/lightgcn.py``; MMRec's ``damrs.py`` is the same model over
LightGCN), these deviations: the backbone's own loss is replaced by L_DBPR (+ λ: MMRec's DA-MRS has no
regulariser, the default λ = 0; over VBPR, ``model.reg_weight=1e-3`` restores VBPR's own);
the item views enrich the first d columns of a wider item vector (VBPR's γ_i; the paper's VBPR variant is not
published); L_AI's logs use log-sum-exp instead of adding 1e-9 to a ratio, and L_AU is computed as the equal
(σ(a) − σ(b))(a − b) (finite where the official logs of saturated sigmoids are not); L_AI is one chunked autograd
function (its gradient in its docstring) that holds a [views × batch items × items] tensor only while it fits
a budget; the denoised graphs take the top-k among candidates
(the official code counts a row's candidates in one modality and takes that many from each; the same graphs
when the mean similarities are positive). Not copied: the official TikTok code (``src_tiktok``) calls its
3-argument pseudo-label function with 4 views, which raises a TypeError, and its TikTok preprocessing reads
MMSSL's test file as validation and its validation file as test; this toolkit uses its own split.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from graphrec.errors import ConfigError
from graphrec.graphs.normalize import add_self_loops, normalize
from graphrec.graphs.sparse import SparseGraph
from graphrec.graphs.store import GraphSpec
from graphrec.losses import l2_regularization
from graphrec.models.base import Recommender
from graphrec.models.registry import build_registered

BACKBONE = "backbone."  # prefix of the backbone's graphs among this model's


def symmetric_bernoulli_kl(logit_p: torch.Tensor, logit_q: torch.Tensor) -> torch.Tensor:
    """KL(p‖q) + KL(q‖p) for Bernoulli p = σ(a), q = σ(b), elementwise: it equals (p − q)(a − b) exactly
    (the log-ratios of the two outcomes combine into the difference of logits), finite for saturated p, q."""
    return (torch.sigmoid(logit_p) - torch.sigmoid(logit_q)) * (logit_p - logit_q)


def pseudo_labels(cos: torch.Tensor, n_pseudo: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Per view g and row: (agreed, own) neighbour indices [G, C, k] from q^g = softmax(cos^g) (rows of [G, C, N]):
    agreed = top-k of Σ_{g'≠g} q^{g'} + 2 q^g, own = top-k of q^g outside agreed."""
    return _labels_from_probabilities(torch.softmax(cos, dim=2), n_pseudo)


def _labels_from_probabilities(q: torch.Tensor, n_pseudo: int) -> tuple[torch.Tensor, torch.Tensor]:
    agreed = (q.sum(0, keepdim=True) + q).topk(n_pseudo, dim=2).indices
    # own: the view's 2k best hold at least k outside agreed; keep the first k of those, in rank order
    k2 = min(2 * n_pseudo, q.shape[2])
    best = q.topk(k2, dim=2).indices
    outside = ~(best.unsqueeze(3) == agreed.unsqueeze(2)).any(3)
    rank = torch.where(outside, torch.arange(k2, device=q.device), k2 + torch.arange(k2, device=q.device))
    own = best.gather(2, rank.argsort(dim=2)[..., :n_pseudo])
    return agreed, own


class _NeighbourDiscrimination(torch.autograd.Function):
    """L_AI (mean over views and rows) from anchors [G, I, d] and keys [G, N, d], both ℓ2-normalised, in row chunks
    (a chunk's temporaries stay in cache); the backward reuses the forward's exponentials (``keep``) or recomputes
    each chunk's cosines, so no [G, I, N] tensor is held where that would not fit.

    Per row, with ℓ = c/τ: L = (E − A) + (R − S), E = lse_j ℓ_j, A = lse_{agreed} ℓ, S = lse_{own} ℓ,
    R = log(e^E − e^A); ∂L/∂c_j = (e^{ℓ_j−E} + [j∉agreed] e^{ℓ_j−R} − [j∈agreed] e^{ℓ_j−A} − [j∈own] e^{ℓ_j−S})/τ.
    Cosines of unit vectors are at most 1, so e^{(c−1)/τ} ≤ 1 needs no running maximum (rows hold their own
    item, c = 1, so the sums are ≥ 1 and finite) and e^c (the labels' softmax, τ = 1) needs no shift at all.
    """

    @staticmethod
    def forward(ctx, anchors, keys, n_pseudo: int, temperature: float, chunk: int, keep: bool):
        n_rows = anchors.shape[1]
        saved = {name: [] for name in ("agreed", "own", "E", "A", "R", "S")}
        kept = []
        for lo in range(0, n_rows, chunk):
            cos = torch.bmm(anchors[:, lo:lo + chunk], keys.transpose(1, 2)).float()  # fp32 under autocast too
            q = torch.exp(cos)
            q.div_(q.sum(2, keepdim=True))
            agreed, own = _labels_from_probabilities(q, n_pseudo)
            shifted = cos.sub_(1.0).div_(temperature).exp_()  # e^{ℓ − 1/τ}, in place of the cosines
            every = shifted.sum(2)
            at_agreed = shifted.gather(2, agreed).sum(2)
            values = (agreed, own, every.log(), at_agreed.log(), (every - at_agreed).clamp(min=1e-30).log(),
                      shifted.gather(2, own).sum(2).log())  # all shifted by −1/τ, which cancels in L and ∂L
            for name, value in zip(saved, values):
                saved[name].append(value)
            if keep:
                kept.append(shifted)
        cat = {name: torch.cat(values, 1) for name, values in saved.items()}
        ctx.save_for_backward(anchors, keys, *cat.values())
        ctx.temperature, ctx.chunk, ctx.kept = temperature, chunk, kept
        return ((cat["E"] - cat["A"]) + (cat["R"] - cat["S"])).mean()

    @staticmethod
    def backward(ctx, grad):
        anchors, keys, agreed, own, e, a, r, s = ctx.saved_tensors
        tau, chunk, kept = ctx.temperature, ctx.chunk, ctx.kept
        scale = grad / (anchors.shape[0] * anchors.shape[1] * tau)
        grad_anchors, grad_keys = torch.empty_like(anchors), torch.zeros_like(keys)
        for n, lo in enumerate(range(0, anchors.shape[1], chunk)):
            hi = min(anchors.shape[1], lo + chunk)
            if kept:  # the forward's e^{ℓ − 1/τ}
                shifted = kept[n]
            else:
                shifted = torch.bmm(anchors[:, lo:hi], keys.transpose(1, 2)).sub_(1.0).div_(tau).exp_()
            ag, ow = agreed[:, lo:hi], own[:, lo:hi]
            inv_e, inv_r = torch.exp(-e[:, lo:hi, None]), torch.exp(-r[:, lo:hi, None])
            at_agreed, at_own = shifted.gather(2, ag), shifted.gather(2, ow)
            g = shifted.mul_(inv_e + inv_r)  # e^{ℓ−E} + e^{ℓ−R} everywhere; then the corrections
            g.scatter_add_(2, ag, -at_agreed * (inv_r + torch.exp(-a[:, lo:hi, None])))
            g.scatter_add_(2, ow, -at_own * torch.exp(-s[:, lo:hi, None]))
            g.mul_(scale)
            grad_anchors[:, lo:hi] = torch.bmm(g, keys)
            grad_keys.baddbmm_(g.transpose(1, 2), anchors[:, lo:hi])
        ctx.kept = []
        return grad_anchors, grad_keys, None, None, None, None


def neighbour_discrimination(anchors: torch.Tensor, keys: torch.Tensor, n_pseudo: int, temperature: float,
                             memory_elements: int = 2_000_000, keep_elements: int = 100_000_000) -> torch.Tensor:
    """L_AI: anchors [G, I, d] (the batch items' views) against keys [G, N, d] (every item's), ℓ2-normalised.
    Chunks of ``memory_elements`` entries; the forward's exponentials are kept for the backward when all of them
    fit in ``keep_elements`` (one product and one exponential fewer per chunk), recomputed otherwise."""
    work = anchors.shape[0] * keys.shape[1]
    chunk = max(1, memory_elements // max(1, work))
    keep = work * anchors.shape[1] <= keep_elements
    return _NeighbourDiscrimination.apply(anchors, keys, n_pseudo, temperature, chunk, keep)


def denoising_weights(user: torch.Tensor, pos_views: torch.Tensor, neg_views: torch.Tensor
                      ) -> tuple[torch.Tensor, torch.Tensor]:
    """(w⁺ [B], w⁻ [B]) of the denoised BPR; views are ℓ2-normalised [G, B, d] and [G, B(, n), d]."""
    with torch.no_grad():
        p = torch.sigmoid((user.unsqueeze(0) * pos_views).sum(-1))  # [G, B]
        u = user.unsqueeze(0) if neg_views.dim() == 3 else user[None, :, None]
        n_mean = torch.sigmoid((u * neg_views).sum(-1)).mean()
        p_mean = p.mean(0)
        pos_w = (p_mean * torch.exp(-p.var(0)).pow(2)).clamp(0, 1)
        neg_w = torch.where(p_mean < n_mean, (p.max(0).values - n_mean).clamp(0, 1), torch.zeros_like(p_mean))
    return pos_w, neg_w


class DAMRS(Recommender):
    def __init__(self, n_users: int, n_items: int, features: dict[str, torch.Tensor], backbone: str = "lightgcn",
                 backbone_args: dict | None = None, knn_k: int = 10, behaviour_top_k: int = 2,
                 behaviour_min_users: int = 2, n_item_layers: int = 1, n_pseudo: int = 10,
                 neighbor_weight: float = 1e-3, kl_weight: float = 1.0, reg_weight: float = 0.0,
                 temperature: float = 0.2):
        super().__init__(n_users, n_items)
        self.modalities = self.register_features(features)
        if backbone == "damrs":
            raise ConfigError("model.backbone: DA-MRS cannot wrap itself")
        self.backbone = build_registered(backbone, n_users, n_items, features, backbone_args, where="model.backbone")
        if self.backbone.item_id_embeddings() is None or type(self.backbone).embeddings is Recommender.embeddings \
                and type(self.backbone).node_embeddings is Recommender.node_embeddings:
            raise ConfigError(f"model.backbone: '{backbone}' exposes no item ID table and vectors to enrich "
                              "(backbones: lightgcn, mf, vbpr)")
        if n_pseudo < 1 or knn_k < 1 or n_item_layers < 1:
            raise ConfigError("model.n_pseudo, model.knn_k and model.n_item_layers must be at least 1")
        self.knn_k, self.behaviour_top_k, self.behaviour_min_users = int(knn_k), int(behaviour_top_k), \
            int(behaviour_min_users)
        self.n_item_layers, self.n_pseudo, self.temperature = int(n_item_layers), int(n_pseudo), float(temperature)
        self.neighbor_weight, self.kl_weight, self.reg_weight = float(neighbor_weight), float(kl_weight), \
            float(reg_weight)
        self.item_graphs: list[str] = [f"denoised_{m}" for m in self.modalities] + ["behaviour"]

    # ------------------------------------------------------------------ graphs
    def graph_specs(self) -> dict[str, GraphSpec]:
        specs = {BACKBONE + name: spec for name, spec in self.backbone.graph_specs().items()}
        for m in self.modalities:
            specs[f"denoised_{m}"] = GraphSpec("consistent_knn", {"modality": m, "k": self.knn_k})
        specs["behaviour"] = GraphSpec("cointeraction", {"min_users": self.behaviour_min_users,
                                                         "top_k": self.behaviour_top_k})
        return specs

    def attach_graphs(self, graphs: dict[str, SparseGraph]) -> None:
        self.backbone.attach_graphs({k[len(BACKBONE):]: g for k, g in graphs.items() if k.startswith(BACKBONE)})
        own = {k: g for k, g in graphs.items() if not k.startswith(BACKBONE)}
        co = own["behaviour"]
        own["behaviour"] = normalize(add_self_loops(co.with_values(torch.ones_like(co.values)), 1.0), "row_symmetric")
        self.graphs = own

    def pre_epoch(self, epoch: int) -> None:
        self.backbone.pre_epoch(epoch)

    # ------------------------------------------------------------------ representations
    def item_views(self) -> torch.Tensor:
        """[G, n_items, d]: h^g = Â_g^L x for every item graph g."""
        x = self.backbone.item_id_embeddings()
        views = []
        for name in self.item_graphs:
            h = x
            for _ in range(self.n_item_layers):
                h = self.graphs[name] @ h
            views.append(h)
        return torch.stack(views)

    def _widen(self, h: torch.Tensor, width: int) -> torch.Tensor:
        """[h ‖ 0] to the backbone's item width (views live in its ID columns)."""
        return h if h.shape[-1] == width else F.pad(h, (0, width - h.shape[-1]))

    def embeddings(self) -> tuple[torch.Tensor, torch.Tensor]:
        users, items = self.backbone.embeddings()
        return users, items + self._widen(self.item_views().mean(0), items.shape[1])

    # ------------------------------------------------------------------ loss
    def loss(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        users, items = self.backbone.embeddings()
        views = self.item_views()  # [G, N, d]
        d = views.shape[-1]
        enriched = items + self._widen(views.mean(0), items.shape[1])
        u = users[batch["user"]]
        pos_ids, neg_ids = batch["pos"], batch["neg"]
        s_pos = (u * enriched[pos_ids]).sum(-1)
        s_neg = (u.unsqueeze(1) * enriched[neg_ids]).sum(-1) if neg_ids.dim() == 2 else (u * enriched[neg_ids]).sum(-1)
        normed = F.normalize(views, dim=-1)
        w_pos, w_neg = denoising_weights(u[:, :d], normed[:, pos_ids], normed[:, neg_ids])
        if s_neg.dim() == 2:
            s_pos, w_pos, w_neg = s_pos.unsqueeze(1), w_pos.unsqueeze(1), w_neg.unsqueeze(1)
        dbpr = -(w_pos * F.logsigmoid(s_pos - s_neg) + w_neg * F.logsigmoid(s_neg - s_pos)).mean()
        out = {"dbpr": dbpr}
        batch_items = torch.unique(torch.cat([pos_ids, neg_ids.reshape(-1)]))
        if self.neighbor_weight:
            out["ai"] = self.neighbor_weight * neighbour_discrimination(normed[:, batch_items], normed, self.n_pseudo,
                                                                        self.temperature)
        if self.kl_weight:
            uu = users[torch.unique(batch["user"])]
            logit_g = uu @ F.normalize(items[batch_items], dim=-1).T
            logit_t = uu[:, :d] @ F.normalize(views.mean(0)[batch_items], dim=-1).T
            out["au"] = self.kl_weight * symmetric_bernoulli_kl(logit_g, logit_t).mean()
        if self.reg_weight:
            out["reg"] = self.reg_weight * l2_regularization(u, enriched[pos_ids], enriched[neg_ids],
                                                             batch_size=u.shape[0])
        return out
