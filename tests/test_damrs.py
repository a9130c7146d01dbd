"""DA-MRS: the item views against dense graphs, every loss term against a direct computation (the chunked
item-relation alignment and its gradient against autograd), the plug-in over LightGCN and VBPR, bad settings."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from graphrec.errors import ConfigError
from graphrec.models.ranking.damrs import (
    DAMRS, denoising_weights, neighbour_discrimination, pseudo_labels, symmetric_bernoulli_kl,
)
from tests.test_baselines import attach, dense_bipartite, tiny
from tests.test_graph_builders import dense_consistent_knn, dense_topk_rows

BATCH = {"user": torch.tensor([0, 3, 7, 3]), "pos": torch.tensor([1, 2, 9, 5]), "neg": torch.tensor([4, 0, 2, 8])}


def reference_discrimination(anchors, keys, n_pseudo, tau):
    """L_AI with plain autograd and the official ratios."""
    cos = torch.bmm(anchors, keys.transpose(1, 2))
    agreed, own = pseudo_labels(cos.detach(), n_pseudo)
    e = (cos / tau).exp()
    every, at_agreed, at_own = e.sum(2), e.gather(2, agreed).sum(2), e.gather(2, own).sum(2)
    return (-torch.log(at_agreed / every) - torch.log(at_own / (every - at_agreed))).mean()


@pytest.mark.parametrize("memory,keep", [(150, 0), (450, 0), (10 ** 7, 0), (450, 10 ** 7)])
def test_chunked_item_alignment_and_its_gradient_match_autograd(memory, keep):
    """Chunks of 1 and 3 rows and all rows at once, the backward recomputing or reusing the exponentials."""
    g = torch.Generator().manual_seed(0)
    keys = F.normalize(torch.randn(3, 50, 8, generator=g), dim=2)
    rows = torch.tensor([1, 5, 7, 9, 20, 33, 49])
    k1, k2 = keys.clone().requires_grad_(), keys.clone().requires_grad_()
    got = neighbour_discrimination(k1[:, rows], k1, 4, 0.2, memory_elements=memory, keep_elements=keep)
    want = reference_discrimination(k2[:, rows], k2, 4, 0.2)
    got.backward()
    want.backward()
    assert torch.allclose(got, want, atol=1e-5)
    assert torch.allclose(k1.grad, k2.grad, atol=1e-6) and k2.grad.abs().max() > 1e-3


def test_pseudo_labels_rank_agreement_across_views_then_the_view_alone():
    # one anchor, 6 items, two views: view 0 likes items 1 and 2, view 1 likes item 3 most and item 1
    cos = torch.tensor([[[1.0, 0.9, 0.8, 0.0, 0.1, 0.2]],
                        [[1.0, 0.7, -0.5, 0.9, 0.0, 0.3]]])
    agreed, own = pseudo_labels(cos, 2)
    q = torch.softmax(cos, 2)
    score = q.sum(0) + q[0]  # view 0: the other view once, itself twice
    assert set(agreed[0, 0].tolist()) == set(score[0].topk(2).indices.tolist()) == {0, 1}
    assert set(own[0, 0].tolist()) == {2, 5}  # view 0's best outside the agreed pair
    # view 1 alone prefers item 3 to item 1, but item 1 is the one both views agree on
    assert q[1, 0, 3] > q[1, 0, 1]
    assert set(agreed[1, 0].tolist()) == {0, 1} and set(own[1, 0].tolist()) == {3, 5}


def test_symmetric_kl_is_the_sum_of_both_bernoulli_kls():
    a, b = torch.tensor([-3.0, 0.2, 2.5, 0.0]), torch.tensor([1.0, 0.1, -2.0, 0.0])
    p, q = torch.sigmoid(a), torch.sigmoid(b)

    def kl(x, y):
        return x * torch.log(x / y) + (1 - x) * torch.log((1 - x) / (1 - y))

    assert torch.allclose(symmetric_bernoulli_kl(a, b), kl(p, q) + kl(q, p), atol=1e-6)
    assert torch.isfinite(symmetric_bernoulli_kl(torch.tensor([80.0]), torch.tensor([-80.0]))).all()


def test_denoising_weights_by_hand():
    user = torch.tensor([[1.0, 0.0], [0.0, 2.0]])
    # [view, user] -> normalised item vector
    pos = torch.tensor([[[1.0, 0.0], [0.0, -1.0]], [[1.0, 0.0], [0.0, 1.0]]])
    neg = torch.tensor([[[0.0, 1.0], [0.0, 1.0]], [[0.0, 1.0], [0.0, 1.0]]])
    w_pos, w_neg = denoising_weights(user, pos, neg)
    p = torch.sigmoid(torch.tensor([[1.0, -2.0], [1.0, 2.0]]))  # [view, user]
    n_mean = torch.sigmoid(torch.tensor([0.0, 2.0, 0.0, 2.0])).mean()
    assert torch.allclose(w_pos, p.mean(0) * torch.exp(-p.var(0)) ** 2)
    # user 0's positive is likelier than the average negative: no reversal; user 1's is not (the views
    # disagree), so its pair is partly reversed, by max_g p − n̄
    assert p.mean(0)[0] > n_mean > p.mean(0)[1]
    assert w_neg[0] == 0 and torch.allclose(w_neg[1], p[:, 1].max() - n_mean) and w_neg[1] > 0


def dense_behaviour(data, top_k=2, min_users=2):
    r = dense_bipartite(data)
    c = r.T @ r
    c.fill_diagonal_(0)
    c[c < min_users] = 0
    a = (dense_topk_rows(c, top_k) > 0).float() + torch.eye(data.n_items)
    s = a.sum(1).rsqrt()
    return a * s[:, None] * s[None, :]


def model_on(data, **kwargs):
    torch.manual_seed(0)
    return attach(DAMRS(data.n_users, data.n_items, data.features, **kwargs), data)


def test_item_views_scores_and_loss_terms_match_a_dense_computation():
    data = tiny(n_users=12, n_items=10, n=70)
    model = model_on(data, knn_k=3, n_item_layers=2, backbone_args={"embedding_dim": 4, "n_layers": 2},
                     neighbor_weight=0.5, kl_weight=0.3, reg_weight=0.1, n_pseudo=2)
    x = model.backbone.item_id_embeddings()
    graphs = [dense_consistent_knn(data.features, m, 3) for m in ("acoustic", "visual")] + [dense_behaviour(data)]
    views = torch.stack([g @ g @ x for g in graphs])
    assert torch.allclose(model.item_views(), views, atol=1e-5)
    users, items = model.backbone.embeddings()
    user, item = model.embeddings()
    assert torch.equal(user, users) and torch.allclose(item, items + views.mean(0), atol=1e-5)

    terms = model.loss(BATCH)
    u, i, j = users[BATCH["user"]], item[BATCH["pos"]], item[BATCH["neg"]]
    n = F.normalize(views, dim=-1)
    w_pos, w_neg = denoising_weights(u, n[:, BATCH["pos"]], n[:, BATCH["neg"]])
    d = ((u * i).sum(1) - (u * j).sum(1))
    assert torch.allclose(terms["dbpr"], -(w_pos * F.logsigmoid(d) + w_neg * F.logsigmoid(-d)).mean(), atol=1e-6)
    rows = torch.unique(torch.cat([BATCH["pos"], BATCH["neg"]]))
    assert torch.allclose(terms["ai"], 0.5 * reference_discrimination(n[:, rows], n, 2, 0.2), atol=1e-5)
    uu = users[torch.unique(BATCH["user"])]
    p = uu @ F.normalize(items[rows], dim=1).T
    q = uu @ F.normalize(views.mean(0)[rows], dim=1).T
    assert torch.allclose(terms["au"], 0.3 * symmetric_bernoulli_kl(p, q).mean(), atol=1e-6)
    assert torch.allclose(terms["reg"], 0.1 * (u.pow(2).sum() + i.pow(2).sum() + j.pow(2).sum()) / 8, atol=1e-6)
    sum(terms.values()).backward()
    assert model.backbone.embedding.grad.abs().sum() > 0


def test_zero_weights_drop_their_terms_and_several_negatives_are_taken():
    data = tiny(n_users=12, n_items=10, n=70)
    model = model_on(data, knn_k=3, neighbor_weight=0.0, kl_weight=0.0, backbone_args={"embedding_dim": 4})
    batch = {**BATCH, "neg": torch.tensor([[4, 6], [0, 1], [2, 3], [8, 7]])}
    terms = model.loss(batch)
    assert set(terms) == {"dbpr"} and torch.isfinite(terms["dbpr"])


def test_a_wider_backbone_gets_the_views_in_its_id_columns():
    data = tiny(n_users=12, n_items=10, n=70)
    model = model_on(data, knn_k=3, backbone="vbpr", backbone_args={"embedding_dim": 4, "content_dim": 3})
    users, items = model.backbone.embeddings()
    user, item = model.embeddings()
    assert item.shape == items.shape == (10, 4 + 3 + 1)
    assert torch.allclose(item[:, :4], items[:, :4] + model.item_views().mean(0), atol=1e-6)
    assert torch.equal(item[:, 4:], items[:, 4:])  # content factors and biases untouched
    assert set(model.loss(BATCH)) == {"dbpr", "ai", "au"}


@pytest.mark.parametrize("kwargs,message", [
    ({"backbone": "nope"}, "model.backbone: unknown model 'nope'"),
    ({"backbone": "ngcf"}, "exposes no item ID table"),
    ({"backbone": "damrs"}, "cannot wrap itself"),
    ({"backbone_args": {"n_layerz": 2}}, "model.backbone_args.n_layerz: not a parameter of LightGCN"),
    ({"n_pseudo": 0}, "at least 1"),
])
def test_bad_settings_are_config_errors(kwargs, message):
    data = tiny()
    with pytest.raises(ConfigError, match=message):
        DAMRS(data.n_users, data.n_items, data.features, **kwargs)
