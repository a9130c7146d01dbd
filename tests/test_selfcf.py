"""SelfCF (SELFCFED_LGN): loss against a dense computation, the edge-dropped online view, the two-sided score,
and training with no negatives."""

from __future__ import annotations

import torch

from graphrec.models.layers.edge_dropout import dropout_entries
from graphrec.models.ranking.selfcf import SelfCF
from tests.test_baselines import attach, tiny
from tests.test_bm3 import camp_auc, dense_layer_mean, one_minus_cos, train_on_positives, two_camp_world


def test_loss_matches_a_dense_computation_without_augmentation():
    data = tiny()
    model = SelfCF(data.n_users, data.n_items, embedding_dim=6, n_layers=2, dropout=0.0, reg_weight=0.01,
                   edge_dropout_max=0.0)
    attach(model, data)
    batch = {"user": torch.tensor([0, 3, 5, 3]), "pos": torch.tensor([1, 2, 7, 0])}
    terms = model.loss(batch)
    h = dense_layer_mean(model.graphs["adj"].to_dense(), model.embedding.detach(), 2)
    hu, hi = h[batch["user"]], h[data.n_users + batch["pos"]]
    pred = model.predictor
    assert torch.allclose(terms["ssl"], 0.5 * one_minus_cos(pred(hu), hi) + 0.5 * one_minus_cos(pred(hi), hu),
                          atol=1e-6)
    assert torch.allclose(terms["reg"], 0.01 * 0.5 * (hu.pow(2).sum() + hi.pow(2).sum()), atol=1e-6)


def test_online_view_is_lightgcn_on_the_graph_with_entries_dropped():
    data = tiny(n_users=30, n_items=25, n=200)
    model = SelfCF(data.n_users, data.n_items, embedding_dim=4, n_layers=2)
    attach(model, data)
    full = model.graphs["adj"].to_dense()
    torch.manual_seed(3)
    dropped = dropout_entries(model.graphs["adj"], 0.4)
    kept = dropped.to_dense()
    # the structure is kept; dropped entries are zero, the rest scaled by 1 / (1 - r)
    assert dropped.nnz == model.graphs["adj"].nnz
    on = kept != 0
    assert torch.allclose(kept[on], full[on] / 0.6)
    assert abs(1 - on.sum().item() / (full != 0).sum().item() - 0.4) < 0.08
    assert not torch.allclose(kept, kept.T)  # the two directions of an edge drop independently
    torch.manual_seed(3)
    online = model.encode(0.4)
    assert torch.allclose(online, dense_layer_mean(kept, model.embedding.detach(), 2), atol=1e-5)
    # with no edge dropped the online view is the graph the scores use
    assert torch.allclose(model.encode(0.0), dense_layer_mean(full, model.embedding.detach(), 2), atol=1e-5)


def test_score_adds_both_predicted_sides():
    data = tiny()
    model = SelfCF(data.n_users, data.n_items, embedding_dim=5, n_layers=1)
    attach(model, data)
    h = dense_layer_mean(model.graphs["adj"].to_dense(), model.embedding.detach(), 1)
    u, i, p = h[: data.n_users], h[data.n_users:], model.predictor
    expected = p(u) @ i.T + u @ p(i).T
    assert torch.allclose(model.score(torch.arange(data.n_users)), expected, atol=1e-5)
    assert torch.allclose(model.score(torch.tensor([2, 4]), torch.tensor([3, 0])), expected[[2, 4], [3, 0]],
                          atol=1e-5)


def test_trains_without_negatives():
    data = two_camp_world()
    torch.manual_seed(0)
    model = SelfCF(data.n_users, data.n_items, embedding_dim=16, n_layers=2, dropout=0.2)
    attach(model, data)
    before = camp_auc(model, data)
    train_on_positives(model, data)
    after = camp_auc(model, data)
    assert before < 0.7 and after > 0.95, (before, after)
