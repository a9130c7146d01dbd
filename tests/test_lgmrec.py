"""LGMRec: local views, the learned hypergraph and the hyperedge contrast against dense computations."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from graphrec.losses import bpr_loss
from graphrec.losses import info_nce_all
from graphrec.models.ranking.lgmrec import LGMRec
from tests.test_bm3 import dense_layer_mean
from tests.test_baselines import attach, tiny


def dense_final(model: LGMRec, data) -> tuple[torch.Tensor, dict]:
    nu = data.n_users
    adj = model.graphs["adj"].to_dense()
    r = torch.zeros(nu, data.n_items)
    r[data.user, data.item] = 1.0
    e = model.embedding.detach()
    collab = dense_layer_mean(adj, e, model.n_ui_layers)
    local, hyper = collab.clone(), {}
    for m in model.modalities:
        x = data.features[m]
        items = x @ model.transform[m]
        view = torch.cat([(r @ items) / r.sum(1, keepdim=True), items])
        for _ in range(model.n_mm_layers):
            view = adj @ view
        local = local + F.normalize(view, dim=1)
        logits = x @ model.hyper[m]
        h_i, h_u = torch.softmax(logits / 0.2, 1), torch.softmax((r @ logits) / 0.2, 1)
        it = collab[nu:]
        for _ in range(model.n_hyper_layers):
            lat = h_i.T @ it
            it, ut = h_i @ lat, h_u @ lat
        hyper[m] = (ut, it)
    glob = sum(torch.cat(v) for v in hyper.values())
    return local + model.alpha * F.normalize(glob, dim=1), hyper


def test_evaluation_views_match_a_dense_computation_and_are_deterministic():
    data = tiny(n_users=12, n_items=10, n=60)
    torch.manual_seed(0)
    model = LGMRec(data.n_users, data.n_items, data.features, embedding_dim=6, n_hyper_layers=2, n_hyperedges=3)
    attach(model, data)
    model.eval()
    final, hyper = model.forward_views()
    ref, ref_hyper = dense_final(model, data)
    assert torch.allclose(final, ref, atol=1e-5)
    for m in model.modalities:
        assert all(torch.allclose(a, b, atol=1e-5) for a, b in zip(hyper[m], ref_hyper[m]))
    assert torch.equal(model.score(torch.arange(4)), model.score(torch.arange(4)))  # no Gumbel noise at eval
    model.train()
    assert not torch.allclose(model.forward_views()[0], final)  # training draws Gumbel noise and dropout


def test_hyperedge_contrast_by_hand():
    anchor = torch.tensor([[1.0, 0.0]])
    cands = torch.tensor([[1.0, 1.0], [0.0, 3.0], [-2.0, 0.0]])
    cos = [1 / math.sqrt(2), 0.0, -1.0]
    expected = -(cos[0] / 0.5 - math.log(sum(math.exp(c / 0.5) for c in cos)))
    assert abs(info_nce_all(anchor, cands[:1], cands, 0.5).item() - expected) < 1e-6


def test_loss_terms():
    data = tiny(n_users=12, n_items=10, n=60)
    torch.manual_seed(0)
    model = LGMRec(data.n_users, data.n_items, data.features, embedding_dim=6, n_hyperedges=3, cl_weight=0.1,
                   reg_weight=0.01, keep_rate=1.0)
    attach(model, data)
    model.eval()  # noise-free memberships, so the dense reference applies; the loss maths is the same
    batch = {"user": torch.tensor([0, 4, 7]), "pos": torch.tensor([2, 9, 5]), "neg": torch.tensor([1, 1, 3])}
    terms = model.loss(batch)
    final, hyper = dense_final(model, data)
    nu = data.n_users
    u, i, j = final[batch["user"]], final[nu + batch["pos"]], final[nu + batch["neg"]]
    assert torch.allclose(terms["bpr"], bpr_loss((u * i).sum(1), (u * j).sum(1)), atol=1e-6)
    assert torch.allclose(terms["reg"], 0.01 * (u.norm() + i.norm() + j.norm()) / 3, atol=1e-6)
    (ua, ia), (ub, ib) = hyper["acoustic"], hyper["visual"]
    hcl = info_nce_all(ua[batch["user"]], ub[batch["user"]], ub, 0.2) + \
        info_nce_all(ia[batch["pos"]], ib[batch["pos"]], ib, 0.2)
    assert torch.allclose(terms["hcl"], 0.1 * hcl, atol=1e-5)
