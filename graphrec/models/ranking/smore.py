"""SMORE: spectrum-based modality representation fusion GCN (Ong & Khong, WSDM 2025).

Builds on MGCN's views (``graphrec.models.layers.purified_views``): behaviour view h^id, purified item-graph
views, final h = h^id + h^mm, s(u, i) = ⟨h_u, h_i⟩, loss BPR + λ · ½‖·‖²/B + λ_cl (InfoNCE of h^mm against h^id for
the batch's items and users, τ = 0.2). What SMORE adds:
- Spectrum modality fusion: projected features x̃^m = W_m x^m + b_m go to the frequency domain along the embedding
  axis, F^m = rFFT(x̃^m) (orthonormal). Uni-modal denoising x̂^m = iFFT(F^m ⊙ w_m) and cross-modal fusion
  x̂^f = iFFT((Π_m F^m) ⊙ w_f), with learned complex filters w (one per modality and one for the fusion; a
  product of spectra is a circular convolution of the modalities).
- Purified views: ẽ^m = e_I ⊙ σ(G_m x̂^m + g_m) and ẽ^f = e_I ⊙ σ(G_f x̂^f + g_f), propagated on the modality's
  frozen kNN graph S_m (top-k cosine, weighted, a_ij / sqrt(r_i r_j); ``knn_k`` per modality) and on the fusion
  graph S_f = elementwise max of the S_m over the union of their edges (``graphs.sparse.elementwise_max``).
- Modality-aware preference: a^m = softmax over the embedding axis of Q_m(ē^f) (Q_m = Linear, tanh, Linear),
  aggregated views a^m ⊙ ē^m; behaviour preferences p = dropout(σ(P h^id + b)) per modality and for the fusion;
  h^mm = mean(p^1 ⊙ a^1 ⊙ ē^1, …, p^M ⊙ a^M ⊙ ē^M, p^f ⊙ ē^f).

Deviations: as MGCN's (the regulariser divides by the batch's own size; no learning-rate decay, the official
code decays by 0.96 every 50 epochs). The official code (MMRec ``models/smore.py``, by the authors) is written for
image and text; this takes any number of modalities (the fusion spectrum is the product over all of them).
TikTok has no text: visual + acoustic.
"""

from __future__ import annotations

import torch
from torch import nn

from graphrec.errors import ConfigError
from graphrec.graphs.sparse import SparseGraph, elementwise_max
from graphrec.graphs.store import GraphSpec
from graphrec.models.layers.itemgraph import modality_knn_spec
from graphrec.models.layers.purified_views import PurifiedViewsRecommender, sigmoid_gate

FUSION = "fusion"


def spectral_filter(spectrum: torch.Tensor, weight: torch.Tensor, dim: int) -> torch.Tensor:
    """iFFT(spectrum ⊙ w) back to ``dim`` real values (orthonormal), w stored as ``[d/2 + 1, 2]`` (re, im)."""
    return torch.fft.irfft(spectrum * torch.view_as_complex(weight), n=dim, dim=1, norm="ortho")


class SMORE(PurifiedViewsRecommender):
    def __init__(self, n_users: int, n_items: int, features: dict[str, torch.Tensor], embedding_dim: int = 64,
                 knn_k: int = 10, knn_k_by_modality: dict[str, int] | None = None, n_layers: int = 1,
                 n_ui_layers: int = 3, reg_weight: float = 1e-4, cl_weight: float = 0.01, temperature: float = 0.2,
                 dropout: float = 0.1, tune_features: bool = True):
        super().__init__(n_users, n_items, features, embedding_dim, n_layers, n_ui_layers, reg_weight, cl_weight,
                         temperature, tune_features)
        views = [*self.modalities, FUSION]
        self.filters = nn.ParameterDict({v: nn.Parameter(torch.randn(embedding_dim // 2 + 1, 2)) for v in views})
        self.purifier = nn.ModuleDict({v: sigmoid_gate(embedding_dim) for v in views})
        self.preference = nn.ModuleDict({v: sigmoid_gate(embedding_dim) for v in views})
        self.query = nn.ModuleDict({m: nn.Sequential(nn.Linear(embedding_dim, embedding_dim), nn.Tanh(),
                                                     nn.Linear(embedding_dim, embedding_dim, bias=False))
                                    for m in self.modalities})
        unknown = set(knn_k_by_modality or {}) - set(self.modalities)
        if unknown:
            raise ConfigError(f"model.knn_k_by_modality: names modalities the dataset lacks: {sorted(unknown)} "
                             f"(it has {self.modalities})")
        self.knn_k = {m: int((knn_k_by_modality or {}).get(m, knn_k)) for m in self.modalities}
        self.preference_dropout = nn.Dropout(float(dropout))

    def graph_specs(self) -> dict[str, GraphSpec]:
        specs = {"adj": GraphSpec("bipartite", {"norm": "symmetric"})}
        specs.update({f"knn_{m}": modality_knn_spec(m, self.knn_k[m], binary=False) for m in self.modalities})
        return specs

    def attach_graphs(self, graphs: dict[str, SparseGraph]) -> None:
        super().attach_graphs(graphs)
        self.fusion_graph = elementwise_max([graphs[f"knn_{m}"] for m in self.modalities])

    def spectra(self) -> dict[str, torch.Tensor]:
        """x̂^m (denoised) per modality and x̂^f (fused), each ``[n_items, d]``."""
        projected = {m: self.content(m) for m in self.modalities}
        dim = self.embedding.shape[1]
        spectrum = {m: torch.fft.rfft(x, dim=1, norm="ortho") for m, x in projected.items()}
        out = {m: spectral_filter(spectrum[m], self.filters[m], dim) for m in self.modalities}
        product = spectrum[self.modalities[0]]
        for m in self.modalities[1:]:
            product = product * spectrum[m]
        out[FUSION] = spectral_filter(product, self.filters[FUSION], dim)
        return out

    def side_view(self, behaviour: torch.Tensor) -> torch.Tensor:
        signals = self.spectra()
        graphs = {**{m: self.graphs[f"knn_{m}"] for m in self.modalities}, FUSION: self.fusion_graph}
        views = {v: self.item_graph_view(graphs[v], self.purified(self.purifier[v], signals[v])) for v in graphs}
        parts = [self.preference_dropout(self.preference[v](behaviour)) * views[v] for v in graphs]
        for k, m in enumerate(self.modalities):
            parts[k] = parts[k] * torch.softmax(self.query[m](views[FUSION]), dim=-1)
        return torch.stack(parts).mean(0)
