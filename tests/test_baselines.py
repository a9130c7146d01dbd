"""The baselines (VBPR, NGCF, MMGCN, GRCN, LATTICE, FREEDOM, UltraGCN): a smoke run each, and a test of each
model's defining mechanism against a direct computation on a small case."""

import math

import pytest
import torch
import torch.nn.functional as F

from graphrec.graphs.sparse import SparseGraph, padded_rows, weighted_sum
from graphrec.graphs.store import GraphStore, TrainingGraphInput
from graphrec.models.registry import full_ranking_models, registered_models
from graphrec.training.run import run_training

@pytest.mark.parametrize("model", full_ranking_models())
def test_smoke_loss_decreases_and_metrics_are_finite(model, make_cfg, tmp_path):
    cfg = make_cfg(f"model={model}", "trainer.epochs=4", "trainer.patience=100",
                   "dataset.synthetic.n_users=200", "dataset.synthetic.n_items=150")
    res = run_training(cfg, tmp_path / model)
    import csv
    losses = [float(r["loss"]) for r in csv.DictReader(open(tmp_path / model / "metrics.csv"))]
    if registered_models()[model].cls.learns:
        assert losses[-1] < losses[0]
    else:  # nothing to learn: the loss stays the constant it is
        assert losses == [losses[0]] * len(losses)
    assert all(math.isfinite(v) for v in res["test"].values())
    assert res["test"]["recall@20"] > 0


def tiny(n_users=9, n_items=8, n=40, dims=(5, 3), seed=0):
    g = torch.Generator().manual_seed(seed)
    user = torch.randint(0, n_users, (n,), generator=g)
    item = torch.randint(0, n_items, (n,), generator=g)
    user[:n_users], item[:n_items] = torch.arange(n_users), torch.arange(n_items)  # nobody isolated
    feats = {m: torch.randn(n_items, d, generator=g) for m, d in zip(["visual", "acoustic"], dims)}
    return TrainingGraphInput(user, item, n_users, n_items, feats)


def attach(model, data):
    model.attach_graphs(GraphStore(data).build(model.graph_specs()))
    return model


def dense_bipartite(data):
    r = torch.zeros(data.n_users, data.n_items)
    r[data.user, data.item] = 1
    return r


def dense_knn_incl_self(x, k, binary):
    """Top-k of each cosine row including the diagonal, a_ij/sqrt(r_i r_j) with row sums r (LATTICE/FREEDOM)."""
    z = F.normalize(x, dim=1)
    sim = z @ z.T
    sim.fill_diagonal_(2.0)  # the item itself always ranks first, with weight cos = 1
    idx = sim.topk(k, dim=1).indices
    a = torch.zeros_like(sim)
    a.scatter_(1, idx, 1.0 if binary else (z @ z.T).gather(1, idx))
    r = a.sum(1)
    return a / torch.sqrt(r[:, None] * r[None, :])


def test_weighted_sum_and_padded_rows():
    a = SparseGraph.from_coo(torch.tensor([0, 1]), torch.tensor([1, 2]), torch.tensor([1.0, 2.0]), (3, 3))
    b = SparseGraph.from_coo(torch.tensor([0, 2]), torch.tensor([1, 0]), torch.tensor([4.0, 8.0]), (3, 3))
    assert torch.allclose(weighted_sum([a, b], [0.5, 0.25]).to_dense(), 0.5 * a.to_dense() + 0.25 * b.to_dense())
    idx, val = padded_rows(weighted_sum([a, b], [1.0, 1.0]), 2)
    assert idx.tolist() == [[1, 0], [2, 0], [0, 0]] and val.tolist() == [[5.0, 0.0], [2.0, 0.0], [8.0, 0.0]]


def test_vbpr_score_is_the_paper_formula():
    from graphrec.models.ranking.vbpr import VBPR

    data = tiny()
    m = VBPR(data.n_users, data.n_items, data.features, embedding_dim=4, content_dim=3)
    with torch.no_grad():
        m.beta_item.normal_()
        m.beta_visual.normal_()
    f = torch.cat([data.features["acoustic"], data.features["visual"]], dim=1)  # sorted modality order
    u, i = 2, 5
    expected = (m.gamma_user[u] @ m.gamma_item[i] + m.theta_user[u] @ (m.projection.weight @ f[i])
                + m.beta_item[i] + m.beta_visual @ f[i])
    assert m.score(torch.tensor([u]))[0, i].item() == pytest.approx(expected.item(), rel=1e-5)


def test_ngcf_layer_matches_dense_formula():
    from graphrec.models.ranking.ngcf import NGCF

    data = tiny()
    m = attach(NGCF(data.n_users, data.n_items, embedding_dim=4, layer_dims=[3]), data).eval()
    r = dense_bipartite(data)
    n = data.n_users + data.n_items
    a = torch.zeros(n, n)
    a[: data.n_users, data.n_users:], a[data.n_users:, : data.n_users] = r, r.T
    d = a.sum(1)
    lap = a / torch.sqrt(d[:, None] * d[None, :])
    e = m.embedding
    e1 = F.leaky_relu(m.w1[0]((lap + torch.eye(n)) @ e) + m.w2[0]((lap @ e) * e), 0.2)
    expected = torch.cat([e, F.normalize(e1, dim=1)], dim=1)
    users, items = m.embeddings()
    assert torch.allclose(torch.cat([users, items]), expected, atol=1e-5)


def test_mmgcn_ids_and_preferences_train():
    from graphrec.models.ranking.mmgcn import MMGCN

    data = tiny()
    m = attach(MMGCN(data.n_users, data.n_items, data.features, embedding_dim=4, n_layers=2), data)
    batch = {"user": torch.tensor([0, 1, 2]), "pos": torch.tensor([0, 1, 2]), "neg": torch.tensor([3, 4, 5])}
    sum(m.loss(batch).values()).backward()
    names = dict(m.named_parameters())
    assert "id_embedding" in names and "gcns.visual.preference" in names  # parameters, so the optimiser sees them
    assert m.id_embedding.grad.abs().sum() > 0
    assert all(g.preference.grad.abs().sum() > 0 for g in m.gcns.values())
    # 'add' is a real switch (the official 'False' string always concatenated)
    add = MMGCN(data.n_users, data.n_items, data.features, embedding_dim=4, n_layers=2, combine="add")
    assert add.gcns["visual"].gate[0].in_features == 5 and m.gcns["visual"].gate[0].in_features == 5 + 4


def dense_mmgcn(model, data):
    """MMGCN's node table from eq. 1–7 with a dense mean-aggregation matrix Â = D⁻¹A, all nodes, every layer."""
    r = dense_bipartite(data)
    a = torch.zeros(data.n_users + data.n_items, data.n_users + data.n_items)
    a[: data.n_users, data.n_users:], a[data.n_users:, : data.n_users] = r, r.T
    a_hat = a / a.sum(1, keepdim=True)
    reps = []
    for m, gcn in model.gcns.items():
        items = model.feature(m) if gcn.mlp is None else gcn.mlp(model.feature(m))
        x = torch.cat([F.normalize(gcn.preference, dim=1), F.normalize(items, dim=1)])
        for conv, linear, gate in zip(gcn.conv, gcn.linear, gcn.gate):
            h = F.leaky_relu(a_hat @ x @ conv)
            x_hat = F.leaky_relu(linear(x)) + model.id_embedding
            x = F.leaky_relu(gate(torch.cat([h, x_hat], 1)) if gcn.combine == "concat" else gate(h) + x_hat)
        reps.append(x)
    return torch.stack(reps).mean(0)


@pytest.mark.parametrize("options", [{"n_layers": 2}, {"n_layers": 1}, {"n_layers": 3, "combine": "add"},
                                     {"n_layers": 2, "latent_dim": 6}])
def test_mmgcn_matches_a_dense_reference_with_its_gradients(options):
    """The first layer runs by side of the bipartite graph (users: Â_ui x_items, items: Â_iu x_users), later
    layers on Â x: values and the gradient of every parameter equal the dense eq. 1–7 on all nodes."""
    from graphrec.models.ranking.mmgcn import MMGCN

    data = tiny()
    torch.manual_seed(0)
    m = attach(MMGCN(data.n_users, data.n_items, data.features, embedding_dim=4, **options), data)
    weight = torch.randn(data.n_users + data.n_items, 4, generator=torch.Generator().manual_seed(1))
    ours = m.node_embeddings()
    reference = dense_mmgcn(m, data)
    grads = torch.autograd.grad((weight * ours).sum(), m.parameters())
    reference_grads = torch.autograd.grad((weight * reference).sum(), m.parameters())
    assert torch.allclose(ours, reference, atol=1e-5)
    for (name, _), a, b in zip(m.named_parameters(), grads, reference_grads):
        assert torch.allclose(a, b, atol=1e-5), name


def test_grcn_routes_item_content_to_users_and_prunes():
    from graphrec.models.ranking.grcn import GRCN

    data = tiny()
    m = attach(GRCN(data.n_users, data.n_items, data.features, embedding_dim=4, latent_dim=3, n_routing=2), data)
    feats = m.feat_visual.clone().requires_grad_(True)
    m.feat_visual = feats
    users, _ = m.embeddings()
    r = dense_bipartite(data)
    u = 0
    user_content = users[u, 7:10]  # after the 4-d ID part and the acoustic part: the visual routing output
    (grad,) = torch.autograd.grad(user_content.sum(), feats)
    touched = grad.abs().sum(1) > 0
    assert torch.equal(touched, r[u] > 0)  # a user receives exactly the content of its own items
    # routing changes the preference: with 0 iterations the user's content part is different
    m0 = attach(GRCN(data.n_users, data.n_items, data.features, embedding_dim=4, latent_dim=3, n_routing=0), data)
    m0.load_state_dict(m.state_dict())
    assert not torch.allclose(m0.embeddings()[0][:, 4:], users[:, 4:].detach())
    # pruning: with every confidence negative, all refined edge weights are 0, so the ID part is normalize(E)
    with torch.no_grad():
        m.confidence.fill_(-1.0)
    users, _ = m.embeddings()
    assert torch.allclose(users[:, :4], F.normalize(m.id_embedding, dim=1)[: data.n_users], atol=1e-6)


def test_lattice_mixed_graph_is_lambda_original_plus_rest_learned():
    from graphrec.models.ranking.lattice import LATTICE

    data = tiny(n_items=12)
    m = attach(LATTICE(data.n_users, data.n_items, {"visual": data.features["visual"]}, embedding_dim=4,
                       feat_embed_dim=3, knn_k=4, lambda_coeff=0.7), data)
    original = dense_knn_incl_self(data.features["visual"], 4, binary=False)
    learned = dense_knn_incl_self(m.content("visual"), 4, binary=False)
    mixed = m.item_graph()
    assert torch.allclose(mixed.to_dense(), 0.7 * original + 0.3 * learned.detach(), atol=1e-5)
    mixed.values.sum().backward()  # the learned weights are differentiable in the projection
    assert m.content.linear["visual"].weight.grad.abs().sum() > 0


def test_freedom_frozen_graph_and_degree_sensitive_pruning():
    from graphrec.models.ranking.freedom import FREEDOM
    from graphrec.models.layers.edge_dropout import prune_edges

    data = tiny(n_users=40, n_items=30, n=300)
    m = attach(FREEDOM(data.n_users, data.n_items, data.features, embedding_dim=4, knn_k=3, image_weight=0.1,
                       dropout=0.5), data)
    expected = 0.1 * dense_knn_incl_self(data.features["visual"], 3, True) + \
        0.9 * dense_knn_incl_self(data.features["acoustic"], 3, True)
    assert torch.allclose(m.item_graph.to_dense(), expected, atol=1e-6)
    adj = m.graphs["adj"]
    n_edges = int((adj.row < data.n_users).sum())
    torch.manual_seed(0)
    kept = torch.zeros(data.n_users + data.n_items, data.n_users + data.n_items)
    for _ in range(300):
        pruned = prune_edges(adj, data.n_users, 0.5)
        assert pruned.nnz == 2 * int(n_edges * 0.5) and pruned.symmetric
        d = pruned.to_dense()
        assert torch.allclose(d, d.T)
        kept += (d > 0).float()
    # edges between low-degree nodes survive more often than edges between high-degree nodes
    full = adj.to_dense()
    weight = full[: data.n_users, data.n_users:]
    freq = kept[: data.n_users, data.n_users:][weight > 0] / 300
    w = weight[weight > 0]
    assert torch.corrcoef(torch.stack([freq, w]))[0, 1] > 0.5
    # evaluation uses the full graph, training the pruned one
    m.pre_epoch(1)
    m.eval()
    full_emb = m.embeddings()[0]
    m.train()
    assert not torch.allclose(m.embeddings()[0], full_emb)


def test_ultragcn_constraint_weights_and_loss():
    from graphrec.graphs.constraint import item_constraint_graph
    from graphrec.models.ranking.ultragcn import UltraGCN

    data = tiny(n_users=15, n_items=10, n=80)
    r = dense_bipartite(data)
    g = r.T @ r
    gi = g.sum(1)
    omega = g / (gi - torch.diagonal(g))[:, None] * torch.sqrt(gi[:, None] / gi[None, :])
    omega.fill_diagonal_(0)
    graph = item_constraint_graph(data.user, data.item, data.n_users, data.n_items, k=3)
    dense = graph.to_dense()
    for i in range(data.n_items):
        kept = dense[i] > 0
        assert int(kept.sum()) == min(3, int((omega[i] > 0).sum()))
        assert torch.allclose(dense[i][kept], omega[i][kept])
        assert omega[i][~kept].max() <= dense[i][kept].min() + 1e-6  # the k largest
    m = attach(UltraGCN(data.n_users, data.n_items, embedding_dim=4, negative_num=2, negative_weight=3.0,
                        item_neighbours=3, init_std=0.3, lambda_item=0.5, gamma=0.1), data)
    batch = {"user": torch.tensor([0, 1]), "pos": torch.tensor([0, 1]), "neg": torch.tensor([[2, 3], [4, 5]])}
    terms = m.loss(batch)
    du, di = r.sum(1), r.sum(0)
    beta = lambda u, i: (1 / du[u]) * torch.sqrt((du[u] + 1) / (di[i] + 1))
    s = lambda u, i: m.user_emb[u] @ m.item_emb[i]
    l_o = sum(-(m.w1 + m.w2 * beta(u, i)) * F.logsigmoid(s(u, i))
              + 3.0 * sum(-(m.w3 + m.w4 * beta(u, j)) * F.logsigmoid(-s(u, j)) for j in negs) / 2
              for u, i, negs in [(0, 0, [2, 3]), (1, 1, [4, 5])])
    l_i = sum(-dense[i, j] * F.logsigmoid(s(u, j)) for u, i in [(0, 0), (1, 1)] for j in range(data.n_items)
              if dense[i, j] > 0)
    assert terms["ultra"].item() == pytest.approx(l_o.item(), rel=1e-5)
    assert terms["item"].item() == pytest.approx(0.5 * l_i.item(), rel=1e-5)


@pytest.mark.parametrize("model", ["vbpr", "mmgcn", "grcn", "lattice", "freedom"])
def test_multimodal_models_without_features_fail_clearly(model, make_cfg):
    from graphrec.errors import ConfigError
    from graphrec.experiment import instantiate_model

    cfg = make_cfg(f"model={model}")
    with pytest.raises(ConfigError, match="needs item features"):
        instantiate_model(cfg.model, 5, 4, {})


@pytest.mark.parametrize("neg_shape", [(6,), (6, 3)])
def test_batch_embeddings_are_the_rows_of_embeddings(neg_shape):
    """Values and gradients: NGCF and MMGCN run their last layer on the batch's nodes only."""
    from graphrec.models.ranking.mf import MF
    from graphrec.models.ranking.mmgcn import MMGCN
    from graphrec.models.ranking.ngcf import NGCF

    data = tiny()
    g = torch.Generator().manual_seed(1)
    batch = {"user": torch.randint(0, 9, (6,), generator=g), "pos": torch.randint(0, 8, (6,), generator=g),
             "neg": torch.randint(0, 8, neg_shape, generator=g)}
    torch.manual_seed(0)
    for model in (MF(9, 8, 4), attach(NGCF(9, 8, 4, layer_dims=[4, 4], message_dropout=0.0), data),
                  attach(MMGCN(9, 8, data.features, embedding_dim=4, n_layers=2), data)):
        users, items = model.embeddings()  # NGCF, MMGCN: derived from node_embeddings()
        full = (users[batch["user"]], items[batch["pos"]], items[batch["neg"]])
        weights = [torch.randn(t.shape, generator=g) for t in full]
        full_grads = torch.autograd.grad(sum((w * t).sum() for w, t in zip(weights, full)), model.parameters())
        part = model.batch_embeddings(batch)
        part_grads = torch.autograd.grad(sum((w * t).sum() for w, t in zip(weights, part)), model.parameters())
        assert part[2].shape == (*neg_shape, users.shape[1])
        for a, b in [*zip(part, full), *zip(part_grads, full_grads)]:
            assert torch.allclose(a, b, atol=1e-6), type(model).__name__


def test_l2_normalize_matches_f_normalize_with_its_gradient():
    from graphrec.models.layers.l2norm import l2_normalize

    x = torch.randn(7, 5, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    x[3] = 0.0  # a zero row stays zero, its gradient is g / eps as in F.normalize
    g = torch.randn(7, 5, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    x.requires_grad_(True)
    ours, = torch.autograd.grad((l2_normalize(x) * g).sum(), x)
    reference, = torch.autograd.grad((F.normalize(x, dim=1) * g).sum(), x)
    assert torch.equal(l2_normalize(x)[3], torch.zeros(5, dtype=torch.float64))
    assert torch.allclose(l2_normalize(x), F.normalize(x, dim=1)) and torch.allclose(ours, reference)
    assert torch.autograd.gradcheck(l2_normalize, (x.detach()[[0, 1, 2, 4]].requires_grad_(True),))
