"""SMORE: the spectral filters against direct sums, the max-pooled fusion graph, and the side view against a
dense computation."""

from __future__ import annotations

import math

import torch

from graphrec.models.ranking.smore import FUSION, SMORE, spectral_filter
from tests.test_bm3 import dense_layer_mean
from tests.test_baselines import attach, tiny
from tests.test_mgcn import dense_knn_graph


def circular_convolution(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    d = a.shape[1]
    return torch.stack([sum(a[:, k] * b[:, (n - k) % d] for k in range(d)) for n in range(d)], dim=1)


def test_spectral_filters_are_identity_and_circular_convolution_with_unit_weights():
    torch.manual_seed(0)
    a, b = torch.randn(5, 8, dtype=torch.float64), torch.randn(5, 8, dtype=torch.float64)
    unit = torch.zeros(5, 2, dtype=torch.float64)
    unit[:, 0] = 1.0
    fa, fb = torch.fft.rfft(a, dim=1, norm="ortho"), torch.fft.rfft(b, dim=1, norm="ortho")
    assert torch.allclose(spectral_filter(fa, unit, 8), a)
    assert torch.allclose(spectral_filter(fa * fb, unit, 8), circular_convolution(a, b) / math.sqrt(8))
    # a filter that zeroes the highest frequency removes the alternating component
    low = unit.clone()
    low[-1] = 0.0
    alternating = torch.tensor([[1.0, -1.0] * 4], dtype=torch.float64)
    assert torch.allclose(spectral_filter(torch.fft.rfft(alternating, dim=1, norm="ortho"), low, 8),
                          torch.zeros(1, 8, dtype=torch.float64))


def test_side_view_matches_a_dense_computation():
    data = tiny(n_users=12, n_items=10, n=60)
    torch.manual_seed(0)
    model = SMORE(data.n_users, data.n_items, data.features, embedding_dim=6, knn_k=3,
                  knn_k_by_modality={"visual": 4}, n_ui_layers=2)
    attach(model, data)
    model.eval()  # no dropout on the preferences
    nu, adj = data.n_users, model.graphs["adj"].to_dense()
    e = model.embedding.detach()
    graphs = {m: dense_knn_graph(data.features[m], {"acoustic": 3, "visual": 4}[m]) for m in model.modalities}
    stored = {m: torch.where(g != 0, g, float("-inf")) for m, g in graphs.items()}  # a missing entry is not 0
    fused = torch.maximum(stored["acoustic"], stored["visual"])
    graphs[FUSION] = torch.where(torch.isinf(fused), 0.0, fused)
    assert torch.allclose(model.fusion_graph.to_dense(), graphs[FUSION], atol=1e-6)

    projected = {m: model.content(m).detach() for m in model.modalities}
    spectra = {m: torch.fft.rfft(x, dim=1, norm="ortho") for m, x in projected.items()}
    signal = {m: spectral_filter(spectra[m], model.filters[m], 6) for m in model.modalities}
    signal[FUSION] = spectral_filter(spectra["acoustic"] * spectra["visual"], model.filters[FUSION], 6)
    behaviour = dense_layer_mean(adj, e, 2)
    views = {}
    for v, g in graphs.items():
        items = e[nu:] * model.purifier[v](signal[v])
        items = g @ items
        views[v] = torch.cat([adj[:nu, nu:] @ items, items])
    parts = [model.preference[v](behaviour) * views[v] for v in ("acoustic", "visual", FUSION)]
    for k, m in enumerate(("acoustic", "visual")):
        parts[k] = parts[k] * torch.softmax(model.query[m](views[FUSION]), dim=-1)
    expected = sum(parts) / 3
    behaviour_view, side = model.views()
    assert torch.allclose(behaviour_view, behaviour, atol=1e-5)
    assert torch.allclose(side, expected, atol=1e-5)
