"""A²BM²GL: the non-sampling losses against brute-force users × items sums, each module against a dense
reference, the ablation switches, and a smoke run."""

import csv
import math

import pytest
import torch
import torch.nn.functional as F

from graphrec.errors import ConfigError
from graphrec.graphs.sparse import SparseGraph
from graphrec.losses import all_item_regression, info_bpr_loss
from graphrec.models.ranking.a2bm2gl import A2BM2GL
from graphrec.models.ranking.a2bm2gl_layers import FullAdjacentAttention, SemanticEncoder
from graphrec.training.run import run_training
from tests.test_baselines import attach, dense_bipartite, tiny


def brute_force_regression(user, item, interactions, upper, lower, c0):
    scores = user @ item.T
    return (((upper[:, None] - scores) ** 2) * interactions).sum() + \
        c0 * (((scores - lower[:, None]) ** 2) * ~interactions).sum()


@pytest.mark.parametrize("c0", [1.0, 0.3])
def test_all_item_regression_equals_brute_force(c0):
    g = torch.Generator().manual_seed(0)
    n_users, n_items, d = 13, 17, 6
    user, item = torch.randn(n_users, d, generator=g), torch.randn(n_items, d, generator=g)
    interactions = torch.rand(n_users, n_items, generator=g) < 0.3
    interactions[:, 0] = True
    upper, lower = torch.randn(n_users, generator=g), torch.randn(n_users, generator=g)
    u, v = interactions.nonzero(as_tuple=True)
    degree = interactions.sum(1).float()
    pos_scores = (user[u] * item[v]).sum(-1)
    ours = all_item_regression(user[u], pos_scores, upper[u], lower[u], 1.0 / degree[u], item.T @ item,
                               item.sum(0), n_items, c0)
    expected = brute_force_regression(user, item, interactions, upper, lower, c0)
    torch.testing.assert_close(ours, expected, rtol=1e-5, atol=1e-4)
    # split into batches, the sum is the same (each user's all-item term is spread over its pairs)
    halves = [slice(0, u.numel() // 2), slice(u.numel() // 2, None)]
    total = sum(all_item_regression(user[u[h]], pos_scores[h], upper[u[h]], lower[u[h]], 1.0 / degree[u[h]],
                                    item.T @ item, item.sum(0), n_items, c0) for h in halves)
    torch.testing.assert_close(total, expected, rtol=1e-5, atol=1e-4)


def test_model_adaptive_loss_over_an_epoch_equals_brute_force():
    data = tiny()
    model = attach(A2BM2GL(data.n_users, data.n_items, data.features, embedding_dim=4, negative_weight=0.5,
                           delta=0.0, beta=0.0, gamma=0.0, reg_weight=0.0, knn_k=3, surf_top_k=4), data)
    r = dense_bipartite(data) > 0
    u, v = r.nonzero(as_tuple=True)
    batch = {"user": u, "pos": v, "neg": torch.zeros_like(v)}
    with torch.no_grad():
        rec = model.loss(batch)["rec"]
        users, items = model.embeddings()
        upper, lower = model.boundaries(torch.arange(data.n_users), users, items)
        expected = brute_force_regression(users, items, r, upper, lower, 0.5) / (data.n_users * data.n_items)
    torch.testing.assert_close(rec, expected, rtol=1e-4, atol=1e-6)


def test_info_bpr_is_softmax_cross_entropy_of_the_positive():
    pos, neg = torch.tensor([2.0, 0.0]), torch.tensor([[1.0, 0.0, -1.0], [0.5, 0.5, 0.5]])
    expected = -torch.stack([torch.log(torch.exp(p) / (torch.exp(p) + torch.exp(n).sum())) for p, n in zip(pos, neg)])
    torch.testing.assert_close(info_bpr_loss(pos, neg), expected.mean())


def test_semantic_encoder_equals_dense_eq3_eq4():
    g = torch.Generator().manual_seed(1)
    x = torch.randn(7, 5, generator=g)
    enc = SemanticEncoder(5, 3, heads=2, k=2, self_loop=0.7)
    with torch.no_grad():
        enc.metric.weight.copy_(torch.rand(2, 5, generator=g) + 0.5)
    structure = enc.select(x)
    h = enc(x, structure)
    # dense eq. 3: s_ij = mean_p cos(w_p ⊙ x_i, w_p ⊙ x_j); top-2 others per row; Â = A + wI; D̂^-1/2 Â D̂^-1/2
    s = torch.stack([F.normalize(w * x, dim=1) @ F.normalize(w * x, dim=1).T for w in enc.metric.weight]).mean(0)
    s_off = s.clone().fill_diagonal_(float("-inf"))
    a = torch.zeros_like(s).scatter_(1, s_off.topk(2, dim=1).indices, s.gather(1, s_off.topk(2, dim=1).indices))
    a_hat = a + 0.7 * torch.eye(7)
    d = a_hat.sum(1)
    expected = F.relu(a_hat / torch.sqrt(d[:, None] * d[None, :]) @ enc.linear(x))
    torch.testing.assert_close(h, expected, rtol=1e-4, atol=1e-5)
    h.sum().backward()
    assert enc.self_loop.grad is not None and enc.self_loop.grad != 0
    assert enc.metric.weight.grad is not None and enc.metric.weight.grad.abs().sum() > 0


def test_full_adjacent_attention_equals_dense_softmax_eq6():
    g = torch.Generator().manual_seed(2)
    n, d = 6, 4
    mask = torch.rand(n, n, generator=g) < 0.5
    mask.fill_diagonal_(True)
    row, col = mask.nonzero(as_tuple=True)
    graph = SparseGraph.from_coo(row, col, torch.rand(row.numel(), generator=g), (n, n))
    x = torch.randn(n, d, generator=g)
    att = FullAdjacentAttention(d)
    a1, a2 = att.att.weight.view(2, -1)
    logits = F.leaky_relu((x @ a1)[:, None] + (x @ a2)[None, :], 0.2).masked_fill(~mask, float("-inf"))
    expected = torch.softmax(logits, dim=1) @ x
    torch.testing.assert_close(att(graph, x), expected, rtol=1e-5, atol=1e-6)


def test_ablation_switches_change_what_they_should():
    data = tiny()
    full = A2BM2GL(data.n_users, data.n_items, data.features, knn_k=3)
    assert {"surf_interactions", "surf_visual", "surf_acoustic"} <= set(full.graph_specs())
    attach(full, data)
    batch = {"user": data.user[:8], "pos": data.item[:8], "neg": data.item[8:16]}
    assert {"rec", "margin", "str", "sem"} <= set(full.loss(batch))

    an = A2BM2GL(data.n_users, data.n_items, data.features, anti_bottleneck=False, knn_k=3)
    assert not any(name.startswith("surf") for name in an.graph_specs())  # model-an builds no surfing graph
    assert len(an.attention) == 0

    al = attach(A2BM2GL(data.n_users, data.n_items, data.features, loss="bpr", knn_k=3), data)
    assert "margin" not in al.loss(batch) and not hasattr(al, "upper")  # model-al: BPR, no boundaries

    st = attach(A2BM2GL(data.n_users, data.n_items, None, semantic=False), data)  # model-str: no features needed
    assert len(st.encoders) == 0 and "sem" not in st.loss(batch)
    assert set(st.graph_specs()) == {"adj", "interactions", "surf_interactions"}

    info = A2BM2GL(data.n_users, data.n_items, data.features, loss="infobpr", n_negatives=7)
    assert info.n_negatives == 7
    with pytest.raises(ConfigError, match="model.loss"):
        A2BM2GL(data.n_users, data.n_items, data.features, loss="hinge")
    with pytest.raises(ConfigError, match="needs item features"):
        A2BM2GL(data.n_users, data.n_items, None)


def test_knn_refresh_reselects_neighbours_from_the_learned_metric():
    data = tiny(n_items=12, n=60, dims=(6, 4))
    for refresh, changes in ((1, True), (0, False)):
        torch.manual_seed(0)
        model = attach(A2BM2GL(data.n_users, data.n_items, data.features, knn_k=3, knn_refresh=refresh), data)
        before = model._structure["visual"].graph.col.clone()
        with torch.no_grad():
            model.encoders["visual"].metric.weight.copy_(torch.rand(4, 6) * 3)
        model.pre_epoch(2)
        after = model._structure["visual"].graph.col
        assert (before.shape != after.shape or not torch.equal(before, after)) == changes


@pytest.mark.parametrize("overrides", [[], ["model.loss=bpr", "model.anti_bottleneck=false"]])
def test_smoke_loss_decreases_and_metrics_are_finite(overrides, make_cfg, tmp_path):
    cfg = make_cfg("model=a2bm2gl", "trainer.epochs=4", "trainer.patience=100", "dataset.synthetic.n_users=200",
                   "dataset.synthetic.n_items=150", *overrides)
    res = run_training(cfg, tmp_path / "run")
    losses = [float(r["loss"]) for r in csv.DictReader(open(tmp_path / "run" / "metrics.csv"))]
    assert losses[-1] < losses[0]
    assert all(math.isfinite(v) for v in res["test"].values())
    assert res["test"]["recall@20"] > 0


def test_viz_scores_writes_png_with_each_users_groups(tmp_path):
    from graphrec.inference import load_run
    from graphrec.viz.scores import user_boundaries, user_score_groups
    from tests.conftest import SMALL_WORLD
    from tests.test_bad_input import assert_clean_error, run_cli

    run = tmp_path / "run"
    proc = run_cli("train", "model=a2bm2gl", *SMALL_WORLD, "trainer.epochs=2", f"hydra.run.dir={run}", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    proc = run_cli("viz", "scores", f"checkpoint={run}", "users=[0,3]", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    png = run / "figures" / "scores.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000
    exp = load_run(run)
    groups = user_score_groups(exp, 3)
    seen = sum(int(index.user_items(3).numel()) for index in exp.task.csr.values())
    assert groups["test positives"].size == exp.task.csr["test"].user_items(3).numel()
    assert groups["negatives"].size == exp.dataset.n_items - seen
    upper, lower = user_boundaries(exp.model, 3)
    assert upper != lower
    assert_clean_error(run_cli("viz", "scores", f"checkpoint={run}", "users=[999999]", cwd=tmp_path), "not a user id")
    assert_clean_error(run_cli("viz", "scores", f"checkpoint={run}", cwd=tmp_path), "users")
