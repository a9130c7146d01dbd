"""MVGAE: the encoder against a dense computation, the product of experts and the KL by hand, the decoder's
hardest in-batch negative, items scored as items (the official code scores users against user rows), and the
user / collaborative tables learn (the official code never updates them)."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from graphrec.models.ranking.mvgae import MVGAE, kl_to_standard_normal, product_of_experts
from tests.test_baselines import attach, dense_bipartite, tiny


def dense_mean_graph(data) -> torch.Tensor:
    r = dense_bipartite(data)
    nu, n = data.n_users, data.n_users + data.n_items
    a = torch.zeros(n, n)
    a[:nu, nu:], a[nu:, :nu] = r, r.T
    a = a + torch.eye(n)
    return a / a.sum(1, keepdim=True)


def test_encoder_matches_a_dense_computation():
    data = tiny(n_users=12, n_items=10, n=60)
    torch.manual_seed(0)
    model = attach(MVGAE(data.n_users, data.n_items, data.features, embedding_dim=4, latent_dim=6), data).eval()
    enc, adj = model.experts["visual"], dense_mean_graph(data)

    def conv(layer, x):
        return F.normalize(adj @ x @ layer.weight + layer.bias, dim=1)

    x = F.normalize(torch.cat([enc.preference, enc.mlp(data.features["visual"])]), dim=1)
    x = F.leaky_relu(enc.g1(F.leaky_relu(conv(enc.conv1, x))))
    mu = enc.g_mu(F.leaky_relu(conv(enc.conv_mu, x))) + F.leaky_relu(enc.lin_mu(x))
    logvar = enc.g_var(F.leaky_relu(conv(enc.conv_var, x))) + F.leaky_relu(enc.lin_var(x))
    got = model.posteriors()["visual"]
    assert torch.allclose(got[0], mu, atol=1e-5) and torch.allclose(got[1], logvar.clamp(max=10), atol=1e-5)


def test_product_of_experts_and_kl_by_hand():
    mu = [torch.tensor([[1.0, -2.0]]), torch.tensor([[3.0, 0.0]])]
    var = [torch.tensor([[1.0, 4.0]]), torch.tensor([[1.0, 1.0]])]
    got_mu, got_logvar = product_of_experts(mu, [v.log() for v in var], eps=0.0)
    # precisions (1, 1) and (1/4, 1): μ = (2, (−2/4 + 0) / 1.25), σ² = (1/2, 1/1.25)
    assert torch.allclose(got_mu, torch.tensor([[2.0, -0.4]]))
    assert torch.allclose(got_logvar.exp(), torch.tensor([[0.5, 0.8]]))
    m, lv = torch.tensor([[0.5, -1.0], [0.0, 0.0]]), torch.tensor([[0.2, -0.3], [0.0, 0.0]])
    ref = -0.5 * ((1 + 0.2 - 0.25 - math.exp(0.2)) + (1 - 0.3 - 1.0 - math.exp(-0.3))) / 2
    assert math.isclose(float(kl_to_standard_normal(m, lv)), ref, rel_tol=1e-6)


def test_loss_terms_score_items_with_the_hardest_batch_negative():
    data = tiny(n_users=12, n_items=10, n=60)
    torch.manual_seed(2)
    model = attach(MVGAE(data.n_users, data.n_items, data.features, embedding_dim=4, beta=0.5), data).eval()
    batch = {"user": torch.tensor([0, 3, 7]), "pos": torch.tensor([1, 2, 9]), "neg": torch.tensor([4, 0, 2])}
    terms = model.loss(batch)  # eval mode: z = μ, no dropout
    assert set(terms) == {f"{p}_{e}" for p in ("recon", "kl") for e in ("visual", "acoustic", "collaborative", "fused")}
    mu, logvar = model.posteriors()["fused"]
    z = torch.sigmoid(mu)
    users, items = z[:12], z[12:]
    recon = 0.0
    for b in range(3):
        u = users[batch["user"][b]]
        pos = torch.sigmoid(u @ items[batch["pos"][b]])
        hardest = max(float(u @ items[j]) for j in batch["neg"])
        recon -= math.log2(torch.sigmoid(pos - torch.sigmoid(torch.tensor(hardest))))
    assert math.isclose(float(terms["recon_fused"]), recon, rel_tol=1e-5)
    assert torch.allclose(terms["kl_fused"], 0.5 * kl_to_standard_normal(mu, logvar))
    u, i = model.embeddings()
    assert torch.allclose(u, users) and torch.allclose(i, items)


def test_user_and_collaborative_tables_learn():
    data = tiny(n_users=12, n_items=10, n=60)
    torch.manual_seed(3)
    model = attach(MVGAE(data.n_users, data.n_items, data.features, embedding_dim=4), data).train()
    before = {n: p.detach().clone() for n, p in model.named_parameters() if "preference" in n or n == "collaborative"}
    assert len(before) == 4  # visual, acoustic, collaborative experts' user tables + the collaborative item table
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    batch = {"user": torch.tensor([0, 3, 7]), "pos": torch.tensor([1, 2, 9]), "neg": torch.tensor([4, 0, 2])}
    sum(model.loss(batch).values()).backward()
    opt.step()
    params = dict(model.named_parameters())
    assert all(not torch.equal(params[n], v) for n, v in before.items())
