"""MENTOR: tables against dense computations, each loss term by hand, the perturbed encoders, and the chunked
all-node contrast against the dense one."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from graphrec.errors import ConfigError
from graphrec.losses import bpr_loss, info_nce_all
from graphrec.models.ranking.mentor import MENTOR, moment_alignment
from tests.test_baselines import attach, dense_bipartite, dense_knn_incl_self, tiny


def dense_adj(data) -> torch.Tensor:
    r, nu = dense_bipartite(data), data.n_users
    a = torch.zeros(nu + data.n_items, nu + data.n_items)
    a[:nu, nu:], a[nu:, :nu] = r, r.T
    d = a.sum(1).pow(-0.5)
    return d[:, None] * a * d[None, :]


def dense_encoder(encoder, features, adj, noise=None, eps=0.0) -> torch.Tensor:
    """x + h₁ + h₂ with h_l = Â h_{l−1} (+ ε sign ⊙ normalize(noise_l)), x = normalize([P; MLP(features)])."""
    x = F.normalize(torch.cat([encoder.preference, encoder.mlp(features)]), dim=1)
    out, h = x, x
    for layer in range(2):
        h = adj @ h
        if noise is not None:
            h = h + eps * torch.sign(h) * F.normalize(noise[layer], dim=1)
        out = out + h
    return out


def small(data, **kw) -> MENTOR:
    torch.manual_seed(0)
    return attach(MENTOR(data.n_users, data.n_items, data.features, embedding_dim=4, knn_k=3, **kw), data)


def test_fused_table_matches_a_dense_computation():
    data = tiny(n_users=12, n_items=10, n=60)
    model = small(data)
    adj, nu = dense_adj(data), data.n_users
    views = [dense_encoder(model.encoders[m], data.features[m], adj) for m in model.modalities]
    user = torch.cat([model.user_weight[:, k:k + 1] * v[:nu] for k, v in enumerate(views)], dim=1)
    item = torch.cat([v[nu:] for v in views], dim=1)
    weights = {"visual": 0.1, "acoustic": 0.9}
    s = sum(weights[m] * dense_knn_incl_self(data.features[m], 3, binary=True) for m in model.modalities)
    got = model.node_embeddings()
    assert got.shape == (22, 8)
    assert torch.allclose(got, torch.cat([user, item + s @ item]), atol=1e-5)


def test_perturbed_encoder_adds_signed_normalised_noise_at_each_layer():
    data = tiny(n_users=12, n_items=10, n=60)
    model = small(data)
    encoder, features, adj = model.noisy[0]["visual"], data.features["visual"], dense_adj(data)
    torch.manual_seed(7)
    got = encoder(model.graphs["adj"], features, perturb=0.1)
    torch.manual_seed(7)
    noise = [torch.rand(22, 4), torch.rand(22, 4)]  # rand_like draws the same numbers from the same state
    assert torch.allclose(got, dense_encoder(encoder, features, adj, noise, 0.1), atol=1e-5)
    assert not torch.allclose(got, encoder(model.graphs["adj"], features), atol=1e-3)


def test_moment_alignment_by_hand():
    a, b, c = torch.tensor([[1.0, 2.0], [3.0, 4.0]]), torch.tensor([[0.0, 0.0], [0.0, 2.0]]), torch.ones(2, 2)
    stats = [(t.var().item(), t.mean().item()) for t in (a, b, c)]
    expected = sum(abs(stats[x][0] - stats[y][0]) + abs(stats[x][1] - stats[y][1]) for x, y in [(0, 1), (0, 2), (1, 2)])
    assert moment_alignment([a, b, c]).item() == pytest.approx(expected)
    assert moment_alignment([a, a.clone()]).item() == 0.0


def test_chunked_all_node_contrast_equals_the_dense_one_in_value_and_gradient():
    g = torch.Generator().manual_seed(0)
    a = torch.randn(50, 6, generator=g, requires_grad=True)
    b = torch.randn(50, 6, generator=g, requires_grad=True)
    dense = info_nce_all(a, b, b, 0.3)
    grads = torch.autograd.grad(dense, (a, b))
    chunked = info_nce_all(a, b, b, 0.3, chunk_rows=7)
    assert chunked.item() == pytest.approx(dense.item(), rel=1e-6)
    for x, y in zip(torch.autograd.grad(chunked, (a, b)), grads):
        assert torch.allclose(x, y, atol=1e-6)
    # by hand: −Σ_b log softmax over all rows of b
    an, bn = F.normalize(a, dim=1), F.normalize(b, dim=1)
    by_hand = -torch.log_softmax(an @ bn.T / 0.3, dim=1).diagonal().sum()
    assert dense.item() == pytest.approx(by_hand.item(), rel=1e-5)


def test_loss_terms_by_hand():
    data = tiny(n_users=12, n_items=10, n=60)
    model = small(data, reg_weight=0.5, align_weight=0.3, mask_f_weight=2.0, mask_g_weight=0.7, dropout=0.0,
                  temperature=0.4, contrast_chunk=5)
    batch = {"user": torch.tensor([0, 3, 3]), "pos": torch.tensor([1, 2, 5]), "neg": torch.tensor([4, 0, 2])}
    torch.manual_seed(3)
    out = model.loss(batch)
    nu = data.n_users
    final = model.node_embeddings()
    u, i, j = final[batch["user"]], final[nu + batch["pos"]], final[nu + batch["neg"]]
    assert out["bpr"].item() == pytest.approx(bpr_loss((u * i).sum(1), (u * j).sum(1)).item() / math.log(2), rel=1e-5)
    reg = sum((model.encoders[m].preference[batch["user"]] ** 2).mean() for m in model.modalities)
    assert out["reg"].item() == pytest.approx(0.5 * (reg + (model.user_weight ** 2).mean()).item(), rel=1e-5)
    adj = model.graphs["adj"]
    identity = model.id_encoder(adj, model.id_feature)
    single = {m: model.encoders[m](adj, model.feature(m)) for m in model.modalities}
    guide = model.fuse([identity, identity], weighted=False)
    tables = [final, guide] + [model.fuse([single[m], single[m]], weighted=False) for m in model.modalities]
    assert out["align"].item() == pytest.approx(0.3 * moment_alignment(tables).item(), rel=1e-5)
    mask = sum(1 - F.cosine_similarity(p, model.mask_mlp(p)).mean() for p in (final[:nu], final[nu:]))
    assert out["mask_f"].item() == pytest.approx(2.0 * mask.item(), rel=1e-5)  # dropout 0: deterministic
    torch.manual_seed(3)  # the noisy tables again, from the same draws
    noisy = [model.fuse([enc[m](adj, model.feature(m), 0.1) for m in model.modalities]) for enc in model.noisy]

    def nce(a, b):
        an, bn = F.normalize(a, dim=1), F.normalize(b, dim=1)
        return -torch.log_softmax(an @ bn.T / 0.4, dim=1).diagonal().mean()

    expected = nce(noisy[0][:nu], noisy[1][:nu]) + nce(noisy[0][nu:], noisy[1][nu:])
    assert out["mask_g"].item() == pytest.approx(0.7 * expected.item(), rel=1e-5)


def test_every_term_trains_something():
    """Unlike the official code's no-grad feature-masking term, each term has a gradient."""
    data = tiny(n_users=12, n_items=10, n=60)
    model = small(data, dropout=0.3)
    batch = {"user": torch.tensor([0, 3, 3]), "pos": torch.tensor([1, 2, 5]), "neg": torch.tensor([4, 0, 2])}
    for name, term in model.loss(batch).items():
        grads = torch.autograd.grad(term, list(model.parameters()), allow_unused=True, retain_graph=True)
        assert any(g is not None and g.abs().sum() > 0 for g in grads), name


def test_scores_are_deterministic_and_bad_settings_name_the_field():
    data = tiny()
    model = small(data).eval()
    users = torch.arange(5)
    assert torch.equal(model.score(users), model.score(users))
    for field, value in [("dropout", 1.0), ("noise_eps", 0.0)]:
        with pytest.raises(ConfigError, match=f"model.{field}"):
            MENTOR(data.n_users, data.n_items, data.features, **{field: value})


def test_the_checkpointed_path_for_small_temperatures_matches_too():
    g = torch.Generator().manual_seed(1)
    a = torch.randn(30, 5, generator=g, requires_grad=True)
    b = torch.randn(30, 5, generator=g, requires_grad=True)
    tau = 0.02  # bound 1/τ = 50: the max-subtracting checkpointed blocks
    dense = info_nce_all(a, b, b, tau)
    grads = torch.autograd.grad(dense, (a, b))
    chunked = info_nce_all(a, b, b, tau, chunk_rows=8)
    assert chunked.item() == pytest.approx(dense.item(), rel=1e-5)
    for x, y in zip(torch.autograd.grad(chunked, (a, b)), grads):
        assert torch.allclose(x, y, atol=1e-4)
