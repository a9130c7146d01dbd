"""LayerGCN: the layer-refined propagation against a dense loop, the loss, and the pruning schedule."""

from __future__ import annotations

import torch

import graphrec.models.ranking.layergcn as layergcn_module
from graphrec.losses import bpr_loss
from graphrec.models.layers.edge_dropout import prune_edges
from graphrec.models.ranking.layergcn import LayerGCN
from tests.test_baselines import attach, tiny


def dense_layer_refined(adj: torch.Tensor, ego: torch.Tensor, n_layers: int) -> torch.Tensor:
    x, out = ego, torch.zeros_like(ego)
    for _ in range(n_layers):
        x = adj @ x
        weight = (x * ego).sum(1) / (x.norm(dim=1).clamp_min(1e-8) * ego.norm(dim=1).clamp_min(1e-8))
        x = weight[:, None] * x
        out = out + x
    return out


def test_propagation_and_loss_match_a_dense_computation():
    data = tiny()
    model = LayerGCN(data.n_users, data.n_items, embedding_dim=6, n_layers=3, dropout=0.0, reg_weight=0.2)
    attach(model, data)
    e = model.embedding.detach()
    h = dense_layer_refined(model.graphs["adj"].to_dense(), e, 3)
    assert torch.allclose(model.node_embeddings().detach(), h, atol=1e-5)
    # a plain layer mean would be a different model: the refinement weights are not all 1
    plain = sum(torch.linalg.matrix_power(model.graphs["adj"].to_dense(), k) @ e for k in range(1, 4))
    assert not torch.allclose(h, plain, atol=1e-3)
    batch = {"user": torch.tensor([0, 3, 5]), "pos": torch.tensor([1, 2, 7]), "neg": torch.tensor([4, 4, 0])}
    terms = model.loss(batch)
    u, i, j = h[batch["user"]], h[data.n_users + batch["pos"]], h[data.n_users + batch["neg"]]
    assert torch.allclose(terms["bpr"], bpr_loss((u * i).sum(1), (u * j).sum(1)), atol=1e-6)
    ego_rows = torch.cat([e[batch["user"]], e[data.n_users + batch["pos"]], e[data.n_users + batch["neg"]]])
    assert torch.allclose(terms["reg"], 0.2 * 0.5 * ego_rows.pow(2).sum() / 3, atol=1e-6)


def test_pruning_alternates_degree_sensitive_and_uniform(monkeypatch):
    data = tiny(n_users=30, n_items=25, n=200)
    calls = []

    def record(graph, n_users, keep, degree_sensitive=True):
        calls.append((keep, degree_sensitive))
        return prune_edges(graph, n_users, keep, degree_sensitive)

    monkeypatch.setattr(layergcn_module, "prune_edges", record)
    for alternate, expected in ((True, [True, False, True, False]), (False, [True] * 4)):
        calls.clear()
        model = LayerGCN(data.n_users, data.n_items, embedding_dim=4, dropout=0.2, alternate_uniform=alternate)
        attach(model, data)
        for epoch in range(1, 5):
            model.pre_epoch(epoch)
        assert [d for _, d in calls] == expected and all(k == 0.8 for k, _ in calls)
    # training propagates over the pruned graph, evaluation over the full one
    model.eval()
    full = model.node_embeddings()
    model.train()
    assert not torch.allclose(model.node_embeddings(), full)


def test_uniform_pruning_ignores_degrees():
    data = tiny(n_users=40, n_items=30, n=300)
    model = LayerGCN(data.n_users, data.n_items)
    attach(model, data)
    adj = model.graphs["adj"]
    n = data.n_users + data.n_items
    torch.manual_seed(0)
    counts = {True: torch.zeros(n, n), False: torch.zeros(n, n)}
    for _ in range(300):
        for sensitive in (True, False):
            counts[sensitive] += (prune_edges(adj, data.n_users, 0.5, sensitive).to_dense() > 0).float()
    weight = adj.to_dense()[: data.n_users, data.n_users:]
    edge = weight > 0
    corr = {s: torch.corrcoef(torch.stack([c[: data.n_users, data.n_users:][edge], weight[edge]]))[0, 1]
            for s, c in counts.items()}
    assert corr[True] > 0.5 and abs(corr[False]) < 0.2, corr
