"""DualGNN and DRAGON: representations against a dense computation (per-modality GCN, fusion, user–user and
item–item graphs), the loss terms by hand, and the claims that make each model itself."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from graphrec.errors import ConfigError
from graphrec.models.ranking.dragon import DRAGON
from graphrec.models.ranking.dualgnn import DualGNN
from tests.test_baselines import attach, dense_bipartite, dense_knn_incl_self, tiny


def dense_user_graph(data, k: int) -> torch.Tensor:
    """Top-k users by shared items (ties: smaller index), softmax of the counts over those k."""
    r = dense_bipartite(data)
    c = r @ r.T
    c.fill_diagonal_(0)
    g = torch.zeros_like(c)
    for u in range(c.shape[0]):
        nz = [(float(c[u, v]), v) for v in range(c.shape[1]) if c[u, v] > 0]
        top = sorted(nz, key=lambda t: (-t[0], t[1]))[:k]
        if top:
            w = torch.softmax(torch.tensor([t[0] for t in top]), 0)
            g[u, [t[1] for t in top]] = w
    return g


def dense_views(model, data) -> list[torch.Tensor]:
    """x̂_m = x + Âx + Â²x with x = ℓ2-normalise([P_m; MLP(x^m)]) and Â = D^-1/2 A D^-1/2 (bipartite)."""
    r = dense_bipartite(data)
    nu = data.n_users
    a = torch.zeros(nu + data.n_items, nu + data.n_items)
    a[:nu, nu:], a[nu:, :nu] = r, r.T
    d = a.sum(1).pow(-0.5)
    adj = d[:, None] * a * d[None, :]
    out = []
    for m in model.modalities:
        gcn = model.gcn[m]
        x = F.normalize(torch.cat([gcn.preference, gcn.mlp(data.features[m])]), dim=1)
        out.append(x + adj @ x + adj @ adj @ x)
    return out


def test_dualgnn_matches_a_dense_computation():
    data = tiny(n_users=12, n_items=10, n=60)
    torch.manual_seed(0)
    model = attach(DualGNN(data.n_users, data.n_items, data.features, embedding_dim=4, user_top_k=3), data)
    views = dense_views(model, data)
    w = model.user_weight
    user = sum(w[:, k:k + 1] * v[: data.n_users] for k, v in enumerate(views))
    user = user + dense_user_graph(data, 3) @ user
    item = sum(v[data.n_users:] for v in views)
    got_user, got_item = model.embeddings()
    assert torch.allclose(got_user, user, atol=1e-5) and torch.allclose(got_item, item, atol=1e-5)
    # fusion weights: a softmax over the modalities, starting near 1/M at dataset scale (Xavier noise over
    # [U, M, 1] has std sqrt(2 / (M + U))), as the official code
    assert torch.allclose(w.sum(1), torch.ones(12))
    big = DualGNN(5000, data.n_items, data.features, embedding_dim=4).user_weight
    assert torch.allclose(big, torch.full_like(big, 0.5), atol=0.05)


def test_dragon_matches_a_dense_computation():
    data = tiny(n_users=12, n_items=10, n=60)
    torch.manual_seed(0)
    model = attach(DRAGON(data.n_users, data.n_items, data.features, embedding_dim=4, knn_k=3, user_top_k=5,
                          image_weight=0.1), data)
    views = dense_views(model, data)
    order = model.modalities  # ["acoustic", "visual"]
    w = model.user_weight
    user = torch.cat([w[:, k:k + 1] * v[: data.n_users] for k, v in enumerate(views)], dim=1)
    user = user + dense_user_graph(data, 5) @ user
    item = torch.cat([v[data.n_users:] for v in views], dim=1)
    weights = {"visual": 0.1, "acoustic": 0.9}
    s = sum(weights[m] * dense_knn_incl_self(data.features[m], 3, binary=True) for m in order)
    got_user, got_item = model.embeddings()
    assert got_user.shape == (12, 8) and got_item.shape == (10, 8)
    assert torch.allclose(got_user, user, atol=1e-5)
    assert torch.allclose(got_item, item + s @ item, atol=1e-5)


@pytest.mark.parametrize("cls", [DualGNN, DRAGON])
def test_loss_terms(cls):
    data = tiny(n_users=12, n_items=10, n=60)
    torch.manual_seed(1)
    model = attach(cls(data.n_users, data.n_items, data.features, embedding_dim=4, reg_weight=0.5), data)
    batch = {"user": torch.tensor([0, 3, 3, 7]), "pos": torch.tensor([1, 2, 5, 9]), "neg": torch.tensor([4, 0, 8, 2])}
    terms = model.loss(batch)
    u, i = model.embeddings()
    diff = (u[batch["user"]] * (i[batch["pos"]] - i[batch["neg"]])).sum(1)
    assert torch.allclose(terms["bpr"], -torch.log2(torch.sigmoid(diff)).mean(), atol=1e-6)
    reg = sum((model.gcn[m].preference[batch["user"]] ** 2).mean() for m in model.modalities)
    reg = reg + (model.user_weight ** 2).mean()
    assert torch.allclose(terms["reg"], 0.5 * reg, atol=1e-7)
    # the log₂ of the official code is BPR / ln 2
    assert math.isclose(float(terms["bpr"]) * math.log(2), float(F.softplus(-diff).mean()), rel_tol=1e-5)


def test_dualgnn_user_branches_are_their_own_modality():
    """The official code adds acoustic into the visual branch in place (e_u = w_v(x̂_v + x̂_t) + w_t x̂_t); here
    a user whose acoustic weight is zero is untouched by the acoustic features."""
    data = tiny(n_users=12, n_items=10, n=60)
    torch.manual_seed(0)
    model = attach(DualGNN(data.n_users, data.n_items, data.features, embedding_dim=4), data)
    k = model.modalities.index("acoustic")
    with torch.no_grad():
        model.user_weight[:, k] = 0.0
    before = model.embeddings()[0].clone()
    model.feat_acoustic.copy_(torch.randn_like(model.feat_acoustic))
    after_user, _ = model.embeddings()
    assert torch.allclose(before, after_user)


def test_user_graph_reaches_users_with_shared_items_only():
    """A user who shares no item with anyone gets nothing from the user graph; one who does, changes."""
    data = tiny(n_users=12, n_items=10, n=60)
    keep = (data.user != 11) & (data.item != 9)  # user 11 alone with item 9
    data.user, data.item = torch.cat([data.user[keep], torch.tensor([11])]), torch.cat([data.item[keep], torch.tensor([9])])
    torch.manual_seed(0)
    model = attach(DualGNN(data.n_users, data.n_items, data.features, embedding_dim=4, user_top_k=3), data)
    g = model.graphs["users"].to_dense()
    assert g[11].sum() == 0 and g[:, 11].sum() == 0
    assert torch.allclose(g[:11].sum(1), torch.ones(11))
    assert (g > 0).sum(1).max() <= 3


def test_bad_settings_are_config_errors():
    data = tiny()
    with pytest.raises(ConfigError, match="model.user_top_k"):
        DualGNN(data.n_users, data.n_items, data.features, user_top_k=0)
