"""DiffMM (Jiang et al., ACM MM 2024, "DiffMM: Multi-Modal Diffusion Model for Recommendation").

The paper's text is not on this machine; the sections below follow its outline and the official code
(HKUDS/DiffMM, ``Model.py`` / ``Main.py``), read for the maths, not copied.

- Modality-aware graph diffusion (§3.1): per modality m a denoiser f_m learns to recover users' training rows x₀
  from q(x_t | x₀) (``graphrec.models.layers.diffusion``: SNR-weighted MSE).
- Modality-aware signal injection, MSI (§3.2): L_msi = mean_u mean_d (x̂₀ F_m − x₀ E_I)², F_m = the projected
  modality features, E_I = the item ID table (both detached: it trains f_m only). Per modality L_diff + e·L_msi.
- Graph generation (§3.3): each user's top ``rebuild_k`` items of the noise-free generation x̂ from x₀ form a
  user–item graph G_m, normalised D^-1/2 (G_m + I) D^-1/2 and edge-dropped (keep rate ρ) for training.
- Multi-modal aggregation (§3.5), with Â = D^-1/2 (A + I) D^-1/2 the training graph, f_m = normalize(W_m x_m + b_m):
  h_m = Â [E_U; f_m];  h_m ← h_m + Â [h_m,U; E_I];  h_m ← h_m + λ_adj G_m [E_U; E_I];  h = Σ_m softmax(w)_m h_m;
  e = Σ_{l=0..L} Â^l h + λ_ris · normalize(h);  s_ui = ⟨e_u, e_i⟩.
- Cross-modal contrast (§3.4): views v_m = Σ_{l=0..L} Â^l G_m [E_U; f_m]; InfoNCE of the batch's users and
  positive items against *all* users / items of the other view (τ), either the final embedding against every
  view (``contrast: main``, the official TikTok command's ``cl_method 1``) or the views pairwise (``modalities``).
- L = BPR (mean over the batch) + λ (‖E_U‖² + ‖E_I‖²) (whole tables, every step, as the official code) + λ_cl L_cl.

Training order per epoch, as ``Main.py``: one pass of the denoisers over all users (batches of
``diffusion_batch_size``, their own Adam), then generation of every G_m, then the BPR/contrast epoch.

Deviations, and why:
- TikTok here has visual and acoustic features only (no textual): two modalities instead of three.
- Selection on validation (the official loop tests every epoch and reports the best test epoch; ``eval.test_each_epoch``
  and ``benchmarks/leaderboard.py`` show that figure beside ours).
- Evaluation uses the generated graphs without edge dropout (the official code evaluates on the epoch's randomly
  edge-dropped copy, so its scores change with the dropout draw); training uses the dropped copy, as official.
- ``diffusion_precision: bf16`` (off by default) runs the denoisers' products in bf16: about 2x faster here, the
  generated items may differ where two scores are within bf16's precision (``tests/test_diffmm.py``).
- Users' rows are densified per batch from the CSR graph (the official code holds the whole users × items matrix
  dense). The generated items are a persistent buffer and the denoisers' Adam state is in the checkpoint
  (``get_extra_state``), so evaluation from a checkpoint and a resumed run see exactly what training saw.
"""

from __future__ import annotations

import logging
from itertools import combinations

import torch
import torch.nn.functional as F
from torch import nn

from graphrec.errors import ConfigError
from graphrec.graphs.bipartite import bipartite_graph
from graphrec.graphs.sparse import SparseGraph, dense_rows
from graphrec.graphs.store import GraphSpec
from graphrec.losses import bpr_loss, info_nce_all, pairwise_scores
from graphrec.models.base import Recommender
from graphrec.models.layers.diffusion import Denoiser, GaussianDiffusion
from graphrec.models.layers.edge_dropout import dropout_entries

log = logging.getLogger("graphrec")

CONTRASTS = ("main", "modalities")
PROJECTIONS = ("linear", "leaky_relu")


class DiffMM(Recommender):
    def __init__(self, n_users: int, n_items: int, features: dict[str, torch.Tensor], embedding_dim: int = 64,
                 n_layers: int = 1, reg_weight: float = 1e-4, ssl_weight: float = 1e-2, temperature: float = 0.5,
                 contrast: str = "main", keep_rate: float = 0.5, ris_lambda: float = 0.5, ris_adj_lambda: float = 0.2,
                 projection: str = "linear", denoiser_dims: list[int] | tuple[int, ...] = (1000,), time_dim: int = 10,
                 denoiser_dropout: float = 0.5, denoiser_norm: bool = False, steps: int = 5, noise_scale: float = 0.1,
                 noise_min: float = 1e-4, noise_max: float = 0.02, sampling_steps: int = 0, rebuild_k: int = 1,
                 msi_weight: float = 0.1, diffusion_lr: float = 1e-3, diffusion_batch_size: int = 1024,
                 diffusion_precision: str = "fp32"):
        super().__init__(n_users, n_items)
        if contrast not in CONTRASTS:
            raise ConfigError(f"model.contrast: expected one of {CONTRASTS}, got {contrast!r}")
        if projection not in PROJECTIONS:
            raise ConfigError(f"model.projection: expected one of {PROJECTIONS}, got {projection!r}")
        if diffusion_precision not in ("fp32", "bf16"):
            raise ConfigError(f"model.diffusion_precision: expected fp32 or bf16, got {diffusion_precision!r}")
        if not 0.0 < keep_rate <= 1.0:
            raise ConfigError(f"model.keep_rate: expected a value in (0, 1], got {keep_rate}")
        if not 1 <= rebuild_k <= n_items:
            raise ConfigError(f"model.rebuild_k: expected 1..{n_items} (items), got {rebuild_k}")
        if not 0 <= sampling_steps <= steps:
            raise ConfigError(f"model.sampling_steps: expected 0..{steps} (model.steps), got {sampling_steps}")
        self.register_features(features)
        self.user_embedding = nn.Parameter(nn.init.xavier_uniform_(torch.empty(n_users, embedding_dim)))
        self.item_embedding = nn.Parameter(nn.init.xavier_uniform_(torch.empty(n_items, embedding_dim)))
        self.projection = projection
        if projection == "linear":
            self.project_layers = nn.ModuleDict({m: nn.Linear(f.shape[1], embedding_dim) for m, f in features.items()})
        else:  # the official trans=0: leaky_relu(x W), W Xavier-initialised, no bias
            self.project_layers = nn.ParameterDict(
                {m: nn.Parameter(nn.init.xavier_uniform_(torch.empty(f.shape[1], embedding_dim))) for m, f in features.items()})
        self.modal_weight = nn.Parameter(torch.full((len(self.modalities),), 1.0 / len(self.modalities)))
        self.diffusion = GaussianDiffusion(steps, noise_scale, noise_min, noise_max)
        self.denoisers = nn.ModuleDict({m: Denoiser(n_items, list(denoiser_dims), time_dim, denoiser_dropout, denoiser_norm)
                                        for m in self.modalities})
        for m in self.modalities:  # each user's generated items per modality (saved: checkpoints evaluate as trained)
            self.register_buffer(f"generated_{m}", torch.zeros(n_users, rebuild_k, dtype=torch.long))
        self.register_buffer("generated_ready", torch.zeros((), dtype=torch.bool))
        self.diffusion_optimizer = torch.optim.Adam(self.denoisers.parameters(), lr=diffusion_lr)
        self.n_layers, self.reg_weight, self.ssl_weight = int(n_layers), float(reg_weight), float(ssl_weight)
        self.temperature, self.contrast, self.keep_rate = float(temperature), contrast, float(keep_rate)
        self.ris_lambda, self.ris_adj_lambda, self.msi_weight = float(ris_lambda), float(ris_adj_lambda), float(msi_weight)
        self.sampling_steps, self.rebuild_k = int(sampling_steps), int(rebuild_k)
        self.diffusion_batch_size = int(diffusion_batch_size)
        self.diffusion_bf16 = diffusion_precision == "bf16"
        self._generated_graphs: dict[str, SparseGraph] | None = None
        self._training_graphs: dict[str, SparseGraph] | None = None
        self.register_load_state_dict_post_hook(lambda module, keys: module._forget_graphs())

    # ------------------------------------------------------------------ graphs
    def graph_specs(self) -> dict[str, GraphSpec]:
        return {"adj": GraphSpec("bipartite", {"norm": "symmetric", "self_loops": True}),
                "counts": GraphSpec("bipartite", {"norm": "none"})}

    def attach_graphs(self, graphs: dict[str, SparseGraph]) -> None:
        super().attach_graphs(graphs)
        self.interactions = graphs["counts"].block(slice(0, self.n_users), slice(self.n_users, None))  # 0/1 R
        self._forget_graphs()

    def _forget_graphs(self) -> None:
        self._generated_graphs = self._training_graphs = None

    def generated_graphs(self) -> dict[str, SparseGraph]:
        """G_m from the generated items (generated now from the current denoisers if no epoch has run)."""
        if not bool(self.generated_ready):
            self.generate()
        if self._generated_graphs is None:
            users = torch.arange(self.n_users, device=self.user_embedding.device).repeat_interleave(self.rebuild_k)
            self._generated_graphs = {
                m: bipartite_graph(users, getattr(self, f"generated_{m}").reshape(-1), self.n_users, self.n_items,
                                   "symmetric", self_loops=True) for m in self.modalities}
        return self._generated_graphs

    def modality_graphs(self) -> dict[str, SparseGraph]:
        """The epoch's edge-dropped G_m in training, the generated G_m otherwise."""
        if self.training and self._training_graphs is not None:
            return self._training_graphs
        return self.generated_graphs()

    # ------------------------------------------------------------------ diffusion
    def project(self, m: str) -> torch.Tensor:
        if self.projection == "linear":
            return self.project_layers[m](self.feature(m))
        return F.leaky_relu(self.feature(m) @ self.project_layers[m], 0.2)

    def _denoiser_precision(self) -> torch.autocast:
        """bf16 autocast of the denoisers' matrix products when ``diffusion_precision=bf16`` (weights, Adam and
        the chain's mixing stay fp32)."""
        return torch.autocast(self.user_embedding.device.type, dtype=torch.bfloat16, enabled=self.diffusion_bf16)

    def diffusion_losses(self, x0: torch.Tensor, item_ids: torch.Tensor,
                         features: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Per modality L_diff + e·L_msi on user rows ``x0`` [B, n_items] (module docstring)."""
        out = {}
        for m in self.modalities:
            weighted_mse, predicted = self.diffusion.training_loss(self.denoisers[m], x0)
            msi = (predicted @ features[m] - x0 @ item_ids).pow(2).mean(1)
            out[m] = weighted_mse.mean() + self.msi_weight * msi.mean()
        return out

    def train_denoisers(self) -> float:
        """One pass over all users in shuffled batches, each modality's loss summed; returns the mean loss."""
        item_ids = self.item_embedding.detach()
        features = {m: self.project(m).detach() for m in self.modalities}
        users = torch.randperm(self.n_users, device=item_ids.device)
        total, batches = 0.0, 0
        with torch.enable_grad():
            for chunk in users.split(self.diffusion_batch_size):
                with self._denoiser_precision():
                    losses = self.diffusion_losses(dense_rows(self.interactions, chunk), item_ids, features)
                loss = sum(value.float() for value in losses.values())
                self.diffusion_optimizer.zero_grad(set_to_none=True)
                loss.backward()
                self.diffusion_optimizer.step()
                total, batches = total + float(loss.detach()), batches + 1
        self.diffusion_optimizer.zero_grad(set_to_none=True)  # no stale gradients reach the main optimiser
        return total / max(batches, 1)

    @torch.no_grad()
    def generate(self) -> None:
        """Every user's top ``rebuild_k`` items of the noise-free generation from its training row, per modality."""
        users = torch.arange(self.n_users, device=self.user_embedding.device)
        for chunk in users.split(self.diffusion_batch_size):
            x0 = dense_rows(self.interactions, chunk)
            for m in self.modalities:
                with self._denoiser_precision():
                    generated = self.diffusion.generate(self.denoisers[m], x0, self.sampling_steps)
                getattr(self, f"generated_{m}")[chunk] = generated.topk(self.rebuild_k, dim=1).indices
        self.generated_ready.fill_(True)
        self._forget_graphs()

    def pre_epoch(self, epoch: int) -> None:
        loss = self.train_denoisers()
        self.generate()
        self._training_graphs = {m: dropout_entries(g, 1.0 - self.keep_rate) for m, g in self.generated_graphs().items()}
        log.info(f"diffmm: epoch {epoch} denoiser loss {loss:.4f}; graphs generated")

    def get_extra_state(self) -> dict:
        return {"diffusion_optimizer": self.diffusion_optimizer.state_dict()}

    def set_extra_state(self, state: dict) -> None:
        self.diffusion_optimizer.load_state_dict(state["diffusion_optimizer"])

    # ------------------------------------------------------------------ forward
    def ego(self) -> torch.Tensor:
        return torch.cat([self.user_embedding, self.item_embedding])

    def modality_features(self) -> dict[str, torch.Tensor]:
        """f_m = normalize(W_m x_m + b_m) per modality (computed once per step, shared by both forwards)."""
        return {m: F.normalize(self.project(m), dim=1) for m in self.modalities}

    def forward_main(self, features: dict[str, torch.Tensor] | None = None) -> torch.Tensor:
        """e (users first): the modality-weighted aggregation, propagated, plus λ_ris · normalize(h)."""
        adj, graphs, ego = self.graphs["adj"], self.modality_graphs(), self.ego()
        features = features or self.modality_features()
        weights = torch.softmax(self.modal_weight, dim=0)
        fused = 0
        for k, m in enumerate(self.modalities):
            h = adj @ torch.cat([self.user_embedding, features[m]])
            h = h + adj @ torch.cat([h[: self.n_users], self.item_embedding])
            h = h + self.ris_adj_lambda * (graphs[m] @ ego)
            fused = fused + weights[k] * h
        return adj.power_sum(fused, self.n_layers) + self.ris_lambda * F.normalize(fused, dim=1)

    def forward_views(self, features: dict[str, torch.Tensor] | None = None) -> dict[str, torch.Tensor]:
        """v_m = Σ_l Â^l G_m [E_U; f_m] per modality."""
        adj, graphs = self.graphs["adj"], self.modality_graphs()
        features = features or self.modality_features()
        return {m: adj.power_sum(graphs[m] @ torch.cat([self.user_embedding, features[m]]),
                                 self.n_layers) for m in self.modalities}

    def node_embeddings(self, rows: torch.Tensor | None = None) -> torch.Tensor:
        out = self.forward_main()
        return out if rows is None else out[rows]

    def contrast_pair(self, a: torch.Tensor, b: torch.Tensor, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        """Mean InfoNCE of the batch's users (items) in ``a`` against all users (items) of ``b``."""
        n = self.n_users
        return (info_nce_all(a[users], b[users], b[:n], self.temperature) / users.numel()
                + info_nce_all(a[n + items], b[n + items], b[n:], self.temperature) / items.numel())

    def loss(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        features = self.modality_features()
        final, views = self.forward_main(features), self.forward_views(features)
        pos, neg = pairwise_scores(*self.split_pairwise_rows(final[self.pairwise_node_rows(batch)], batch))
        users, items = batch["user"], batch["pos"]
        if self.contrast == "main":
            pairs = [(final, views[m]) for m in self.modalities]
        else:
            pairs = [(views[a], views[b]) for a, b in combinations(self.modalities, 2)]
        contrast = sum((self.contrast_pair(a, b, users, items) for a, b in pairs), final.new_zeros(()))
        reg = self.user_embedding.pow(2).sum() + self.item_embedding.pow(2).sum()
        return {"bpr": bpr_loss(pos, neg), "reg": self.reg_weight * reg, "cl": self.ssl_weight * contrast}
