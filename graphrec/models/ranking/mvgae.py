"""MVGAE: Multi-modal Variational Graph Auto-encoder for Recommendation Systems (Yi & Chen, IEEE TMM 2021).

As the authors' code (jing-1/MVGAE, ported as MMRec's ``mvgae.py`` at e775373) computes it, with its bugs fixed:
- one variational graph encoder per expert: each modality m (features through a linear map to 128-d) and a
  collaborative expert (a learned item table); per expert a user table P, x = ℓ2-normalise([P; MLP(x_i)]).
  Graph layer (mean aggregation over the neighbours and the node itself, Ā = D⁻¹(A + I)):
  conv(x) = dropout₀.₁(ℓ2-normalise(Ā x W + b)). One hidden layer x₁ = LeakyReLU(G₁ LeakyReLU(conv₁(x))), then
  μ = G_μ LeakyReLU(conv_μ(x₁)) + LeakyReLU(L_μ x₁), log σ² likewise with its own weights;
- product of experts (Gaussian): precision-weighted fusion, first of the modality experts, then of that with
  the collaborative expert: μ = Σ_e μ_e T_e / Σ_e T_e, σ² = 1 / Σ_e T_e, T_e = 1 / σ_e²;
- reparameterisation z = μ + 0.1 ε σ in training (the code's 0.1), z = μ at evaluation; log σ² ≤ 10;
- decoder and loss per expert (the fused one, each modality, collaborative):
  −Σ_b log₂ σ(σ(⟨ẑ_u, ẑ_i⁺⟩) − σ(max_j ⟨ẑ_u, ẑ_j⁻⟩)) + β KL(q ‖ N(0, I)), ẑ = σ(z) (the code's sparse-data branch,
  the one MMRec runs for every dataset), j over the batch's sampled negatives (the hardest in the batch);
  KL = −½ mean_rows Σ_d (1 + log σ² − μ² − σ²);
- score s_ui = ⟨σ(μ_u), σ(μ_i)⟩ of the fused posterior mean.
TikTok has no text: the second modality is acoustic.

Deviations from the official code, and why (bugs, not the method):
- Its user preference tables and collaborative item table are plain tensors, not parameters: they stay at
  their random initial values and never learn. Here they are learned.
- Its decoder indexes the joint user+item table with 0-based item ids (no ``+ n_users``), so training scores
  users against *user* rows while evaluation scores them against item rows. Here items are items.
- Evaluation recomputes the representations in eval mode (no dropout, z = μ); the official code scores with
  those cached by the last training batch.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from graphrec.graphs.sparse import SparseGraph
from graphrec.graphs.store import GraphSpec
from graphrec.models.base import Recommender

MAX_LOGVAR = 10.0


class MeanConv(nn.Module):
    """dropout(ℓ2-normalise(Ā x W + b)) with Ā the row-normalised graph with self-loops."""

    def __init__(self, in_dim: int, out_dim: int, dropout: float = 0.1):
        super().__init__()
        bound = 1.0 / math.sqrt(in_dim)  # PyG's ``uniform(in_channels, ·)`` initialisation of the bias
        self.weight = nn.Parameter(nn.init.xavier_normal_(torch.empty(in_dim, out_dim)))
        self.bias = nn.Parameter(torch.empty(out_dim).uniform_(-bound, bound))
        self.dropout = dropout

    def forward(self, graph: SparseGraph, x: torch.Tensor) -> torch.Tensor:
        out = F.normalize(graph @ (x @ self.weight) + self.bias, dim=1)
        return F.dropout(out, self.dropout, self.training)


def xavier_linear(in_dim: int, out_dim: int) -> nn.Linear:
    layer = nn.Linear(in_dim, out_dim)
    nn.init.xavier_normal_(layer.weight)
    return layer


class VariationalEncoder(nn.Module):
    """One expert: (μ, log σ²) for every user and item from its item inputs and its own user table."""

    def __init__(self, n_users: int, input_dim: int, dim: int, latent: int = 128):
        super().__init__()
        self.preference = nn.Parameter(nn.init.xavier_normal_(torch.empty(n_users, latent)))
        self.mlp = xavier_linear(input_dim, latent)
        self.conv1, self.g1 = MeanConv(latent, dim), xavier_linear(dim, dim)
        self.conv_mu, self.g_mu, self.lin_mu = MeanConv(dim, dim), xavier_linear(dim, dim), xavier_linear(dim, dim)
        self.conv_var, self.g_var, self.lin_var = MeanConv(dim, dim), xavier_linear(dim, dim), xavier_linear(dim, dim)

    def forward(self, graph: SparseGraph, items: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = F.normalize(torch.cat([self.preference, self.mlp(items)]), dim=1)
        x = F.leaky_relu(self.g1(F.leaky_relu(self.conv1(graph, x))))
        mu = self.g_mu(F.leaky_relu(self.conv_mu(graph, x))) + F.leaky_relu(self.lin_mu(x))
        logvar = self.g_var(F.leaky_relu(self.conv_var(graph, x))) + F.leaky_relu(self.lin_var(x))
        return mu, logvar.clamp(max=MAX_LOGVAR)


def product_of_experts(mus: list[torch.Tensor], logvars: list[torch.Tensor],
                       eps: float = 1e-8) -> tuple[torch.Tensor, torch.Tensor]:
    """Gaussian product: μ = Σ μ_e T_e / Σ T_e, log σ² = −log Σ T_e with T_e = 1 / (σ_e² + eps)."""
    precision = [1.0 / (lv.exp() + eps) for lv in logvars]
    total = sum(precision)
    return sum(m * t for m, t in zip(mus, precision)) / total, -total.log()


def kl_to_standard_normal(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    return -0.5 * (1 + logvar - mu.pow(2) - logvar.exp()).sum(1).mean()


class MVGAE(Recommender):
    def __init__(self, n_users: int, n_items: int, features: dict[str, torch.Tensor], embedding_dim: int = 64,
                 beta: float = 0.1, latent_dim: int = 128, noise_scale: float = 0.1):
        super().__init__(n_users, n_items)
        self.register_features(features)
        self.collaborative = nn.Parameter(nn.init.xavier_normal_(torch.empty(n_items, embedding_dim)))
        self.experts = nn.ModuleDict({m: VariationalEncoder(n_users, features[m].shape[1], embedding_dim, latent_dim)
                                      for m in self.modalities})
        self.experts["_collaborative"] = VariationalEncoder(n_users, embedding_dim, embedding_dim, latent_dim)
        self.beta, self.noise_scale = float(beta), float(noise_scale)

    def graph_specs(self) -> dict[str, GraphSpec]:
        return {"adj": GraphSpec("bipartite", {"norm": "row", "self_loops": True})}

    def posteriors(self) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
        """(μ, log σ²) of every expert and of their product (``"fused"``), rows users then items."""
        adj = self.graphs["adj"]
        out = {m: self.experts[m](adj, self.feature(m)) for m in self.modalities}
        out["_collaborative"] = self.experts["_collaborative"](adj, self.collaborative)
        modal = product_of_experts([out[m][0] for m in self.modalities], [out[m][1] for m in self.modalities])
        out["fused"] = product_of_experts([modal[0], out["_collaborative"][0]], [modal[1], out["_collaborative"][1]])
        return out

    def sample(self, mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
        if not self.training:
            return mu
        return mu + torch.randn_like(logvar) * self.noise_scale * (0.5 * logvar).exp()

    def embeddings(self) -> tuple[torch.Tensor, torch.Tensor]:
        z = torch.sigmoid(self.posteriors()["fused"][0])
        return z[: self.n_users], z[self.n_users:]

    def reconstruction(self, z: torch.Tensor, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """−Σ_b log₂ σ(σ(⟨ẑ_u, ẑ_i⁺⟩) − σ(max_j ⟨ẑ_u, ẑ_j⁻⟩)), ẑ = σ(z), j over the batch's negatives."""
        z = torch.sigmoid(z)
        u = z[batch["user"]]
        pos = torch.sigmoid((u * z[self.n_users + batch["pos"]]).sum(1))
        hardest = (u @ z[self.n_users + batch["neg"].reshape(-1)].T).max(dim=1).values
        return -(F.logsigmoid(pos - torch.sigmoid(hardest)) / math.log(2)).sum()

    def loss(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        terms = {}
        for name, (mu, logvar) in self.posteriors().items():
            key = name.lstrip("_")
            terms[f"recon_{key}"] = self.reconstruction(self.sample(mu, logvar), batch)
            terms[f"kl_{key}"] = self.beta * kl_to_standard_normal(mu, logvar)
        return terms
