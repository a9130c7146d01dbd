"""MGCN: the two views against a dense computation, each loss term, in-batch InfoNCE by hand, and the
purifier's claim (a modality reaches an item only through the item's behaviour embedding)."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from graphrec.losses import bpr_loss, info_nce
from graphrec.models.ranking.mgcn import MGCN
from tests.test_bm3 import dense_layer_mean
from tests.test_baselines import attach, tiny


def dense_knn_graph(x: torch.Tensor, k: int) -> torch.Tensor:
    """Top-k cosine similarities per row (the row itself among them), normalised a_ij / sqrt(r_i r_j)."""
    z = F.normalize(x, dim=1)
    sim = z @ z.T
    top = sim.topk(k, dim=1)
    a = torch.zeros_like(sim).scatter_(1, top.indices, top.values)
    r = a.sum(1)
    return a / torch.sqrt(r[:, None] * r[None, :])


def dense_views(model: MGCN, data) -> tuple[torch.Tensor, torch.Tensor]:
    nu = data.n_users
    adj = model.graphs["adj"].to_dense()
    e = model.embedding.detach()
    behaviour = dense_layer_mean(adj, e, model.n_ui_layers)
    modal = []
    for m in model.modalities:
        lin = model.content.linear[m]
        gate = torch.sigmoid(model.purifier[m][0](data.features[m] @ lin.weight.T + lin.bias))
        items = e[nu:] * gate
        for _ in range(model.n_layers):
            items = dense_knn_graph(data.features[m], model.knn_k) @ items
        modal.append(torch.cat([adj[:nu, nu:] @ items, items]))
    scores = torch.stack([model.query(v).squeeze(-1) for v in modal])
    alpha = torch.softmax(scores, dim=0)
    common = sum(alpha[k, :, None] * v for k, v in enumerate(modal))
    side = common + sum(torch.sigmoid(model.preference[m][0](behaviour)) * (modal[k] - common)
                        for k, m in enumerate(model.modalities))
    return behaviour, side / (len(modal) + 1)


def test_views_match_a_dense_computation():
    data = tiny(n_users=12, n_items=10, n=60)
    torch.manual_seed(0)
    model = MGCN(data.n_users, data.n_items, data.features, embedding_dim=6, knn_k=3, n_layers=2)
    attach(model, data)
    behaviour, side = model.views()
    ref_behaviour, ref_side = dense_views(model, data)
    assert torch.allclose(behaviour, ref_behaviour, atol=1e-5)
    assert torch.allclose(side, ref_side, atol=1e-5)
    assert torch.allclose(model.node_embeddings(), ref_behaviour + ref_side, atol=1e-5)


def test_loss_terms():
    data = tiny(n_users=12, n_items=10, n=60)
    torch.manual_seed(1)
    model = MGCN(data.n_users, data.n_items, data.features, embedding_dim=6, knn_k=3, reg_weight=0.5,
                 cl_weight=0.3, temperature=0.2)
    attach(model, data)
    batch = {"user": torch.tensor([0, 4, 7]), "pos": torch.tensor([2, 9, 5]), "neg": torch.tensor([1, 1, 3])}
    terms = model.loss(batch)
    behaviour, side = dense_views(model, data)
    h = behaviour + side
    nu = data.n_users
    u, i, j = h[batch["user"]], h[nu + batch["pos"]], h[nu + batch["neg"]]
    assert torch.allclose(terms["bpr"], bpr_loss((u * i).sum(1), (u * j).sum(1)), atol=1e-6)
    assert torch.allclose(terms["reg"], 0.5 * 0.5 * (u.pow(2).sum() + i.pow(2).sum() + j.pow(2).sum()) / 3,
                          atol=1e-6)
    items, users = nu + batch["pos"], batch["user"]
    cl = info_nce(side[items], behaviour[items], 0.2) + info_nce(side[users], behaviour[users], 0.2)
    assert torch.allclose(terms["cl"], 0.3 * cl, atol=1e-5)


def test_info_nce_by_hand():
    a = torch.tensor([[1.0, 0.0], [0.0, 2.0]])
    c = torch.tensor([[1.0, 1.0], [0.0, 1.0]])
    cos = [[1 / math.sqrt(2), 0.0], [1 / math.sqrt(2), 1.0]]  # cos(a_b, c_k)
    expected = -0.5 * sum(cos[b][b] / 0.5 - math.log(sum(math.exp(cos[b][k] / 0.5) for k in range(2)))
                          for b in range(2))
    assert abs(info_nce(a, c, 0.5).item() - expected) < 1e-6


def test_purifier_lets_a_modality_in_only_through_the_behaviour_embedding():
    data = tiny(n_users=12, n_items=10, n=60)
    model = MGCN(data.n_users, data.n_items, data.features, embedding_dim=6, knn_k=3, n_layers=0)
    attach(model, data)
    with torch.no_grad():
        model.embedding[data.n_users + 4] = 0.0  # item 4 has no behaviour signal
    item_view = model.views()[1][data.n_users:]
    common_only = item_view[4]
    # with no item-item propagation, item 4's modality views are e_4 ⊙ gate = 0, so its side view is 0
    assert torch.allclose(common_only, torch.zeros_like(common_only), atol=1e-7)
    assert item_view[3].abs().sum() > 0
