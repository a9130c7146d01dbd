"""Every builder equals a dense reference on small random inputs; graphs see the training split only;
bad inputs give clear errors or documented warnings; the cache rebuilds only when an input changes."""

import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from graphrec.errors import ConfigError, DataError
from graphrec.graphs.cointeraction import cointeraction_graph, user_cooccurrence_graph
from graphrec.graphs.knn import WeightedCosineKNN, knn_graph
from graphrec.graphs.sparse import SparseGraph
from graphrec.graphs.store import GraphSpec, GraphStore, TrainingGraphInput
from graphrec.graphs.surfing import surfing_graph


def random_interactions(n_users=30, n_items=20, n=200, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, n_users, (n,), generator=g), torch.randint(0, n_items, (n,), generator=g)


def dense_topk_rows(m: torch.Tensor, k):
    """Keep each row's k largest entries (ties: smaller column), zero elsewhere."""
    out = torch.zeros_like(m)
    for i in range(m.shape[0]):
        nz = [(float(m[i, j]), j) for j in range(m.shape[1]) if m[i, j] != 0]
        for v, j in sorted(nz, key=lambda t: (-t[0], t[1]))[:k]:
            out[i, j] = v
    return out


@pytest.mark.parametrize("min_users,top_k", [(1, None), (2, None), (3, None), (2, 3)])
def test_cointeraction_matches_dense(min_users, top_k):
    user, item = random_interactions()
    r = torch.zeros(30, 20)
    r[user, item] = 1
    c = r.T @ r
    c.fill_diagonal_(0)
    c[c < min_users] = 0
    if top_k is not None:
        c = dense_topk_rows(c, top_k)
    got = cointeraction_graph(user, item, 30, 20, min_users=min_users, top_k=top_k, max_block_products=50)
    assert torch.equal(got.to_dense(), c)
    assert got.symmetric == (top_k is None)


@pytest.mark.parametrize("min_items,top_k,norm", [(1, None, "none"), (2, 3, "none"), (1, 4, "softmax")])
def test_user_cooccurrence_matches_dense(min_items, top_k, norm):
    user, item = random_interactions()
    r = torch.zeros(30, 20)
    r[user, item] = 1
    c = r @ r.T  # shared items per user pair
    c.fill_diagonal_(0)
    c[c < min_items] = 0
    if top_k is not None:
        c = dense_topk_rows(c, top_k)
    if norm == "softmax":  # over each row's kept neighbours only
        kept = c != 0
        c = torch.where(kept, c.exp(), torch.zeros(())) / (c.exp() * kept).sum(1, keepdim=True).clamp(min=1e-30)
    got = user_cooccurrence_graph(user, item, 30, 20, min_items=min_items, top_k=top_k, norm=norm,
                                  max_block_products=40)
    assert got.shape == (30, 30)
    assert torch.allclose(got.to_dense(), c, atol=1e-6)
    if norm == "softmax":
        sums = got.to_dense().sum(1)
        assert torch.allclose(sums[sums > 0], torch.ones(int((sums > 0).sum())), atol=1e-6)


def test_row_softmax_of_large_counts_is_finite():
    from graphrec.graphs.normalize import row_softmax
    from graphrec.graphs.sparse import SparseGraph
    g = SparseGraph.from_coo(torch.tensor([0, 0, 1]), torch.tensor([1, 2, 0]), torch.tensor([1000.0, 999.0, 5.0]),
                             (3, 3))
    dense = row_softmax(g).to_dense()
    e = torch.tensor([1.0, torch.e ** -1])
    assert torch.allclose(dense[0, 1:], e / e.sum()) and dense[1, 0] == 1 and dense[2].sum() == 0


def test_cointeraction_threshold_with_no_edges_warns():
    user, item = random_interactions()
    with pytest.warns(UserWarning, match="no edges"):
        g = cointeraction_graph(user, item, 30, 20, min_users=1000)
    assert g.nnz == 0 and g.shape == (20, 20)


@pytest.mark.parametrize("symmetric", [False, True])
def test_knn_matches_dense_including_zero_rows(symmetric):
    g = torch.Generator().manual_seed(1)
    x = torch.randn(25, 6, generator=g)
    x[4] = 0  # cosine undefined: no neighbours, nobody's neighbour
    with pytest.warns(UserWarning, match="all-zero"):
        got = knn_graph(x, k=3, symmetric=symmetric, block_size=7).to_dense()
    z = F.normalize(x, dim=1)
    sim = z @ z.T
    sim.fill_diagonal_(float("-inf"))
    sim[:, 4] = float("-inf")
    ref = torch.zeros(25, 25)
    for i in range(25):
        if i == 4:
            continue
        idx = sim[i].topk(3).indices
        ref[i, idx] = sim[i, idx]
    if symmetric:
        ref = torch.maximum(ref, ref.T)
    assert torch.allclose(got, ref, atol=1e-6)
    assert got[4].abs().sum() == 0 and got[:, 4].abs().sum() == 0


def test_knn_bad_inputs():
    x = torch.randn(5, 3)
    with pytest.warns(UserWarning, match="k=9"):
        g = knn_graph(x, k=9)
    assert (g.crow[1:] - g.crow[:-1]).tolist() == [4] * 5
    x[2, 1] = float("nan")
    with pytest.raises(DataError, match="NaN"):
        knn_graph(x, k=2, what="feature 'visual'")


def test_weighted_cosine_is_mean_of_head_cosines_and_differentiable():
    g = torch.Generator().manual_seed(2)
    x = torch.randn(12, 5, generator=g)
    metric = WeightedCosineKNN(5, heads=3, k=4)
    with torch.no_grad():
        metric.weight.copy_(torch.rand(3, 5, generator=g) + 0.1)
    graph = metric(x)
    heads = [F.normalize(w * x, dim=1) for w in metric.weight.detach()]
    s = sum(h @ h.T for h in heads) / 3
    s.fill_diagonal_(float("-inf"))
    ref_idx = s.topk(4, dim=1).indices
    dense = graph.to_dense().detach()
    for i in range(12):
        assert set(torch.nonzero(dense[i]).flatten().tolist()) == set(ref_idx[i].tolist())
        assert torch.allclose(dense[i, ref_idx[i]], s[i, ref_idx[i]], atol=1e-5)
    graph.values.sum().backward()
    assert metric.weight.grad is not None and metric.weight.grad.abs().sum() > 0


def dense_surfing(adj: torch.Tensor, K, alpha):
    deg = adj.sum(1, keepdim=True)
    p = torch.where(deg > 0, adj / deg.clamp(min=1e-12), torch.zeros_like(adj))
    eye = torch.eye(adj.shape[0], dtype=adj.dtype)
    a, m = eye, torch.zeros_like(adj)
    for _ in range(K):
        a = alpha * a @ p + (1 - alpha) * eye
        m = m + a
    return m


@pytest.mark.parametrize("K,alpha", [(1, 0.98), (3, 0.98), (4, 0.5)])
def test_surfing_with_large_top_k_equals_dense_recurrence(K, alpha):
    g = torch.Generator().manual_seed(3)
    n = 15
    adj = (torch.rand(n, n, generator=g) < 0.2).double() * torch.rand(n, n, generator=g, dtype=torch.float64)
    adj[7] = 0  # an empty row
    graph = SparseGraph.from_torch_sparse(adj.to_sparse())
    got = surfing_graph(graph, K=K, alpha=alpha, top_k=n, block_size=4).to_dense().double()
    assert torch.allclose(got, dense_surfing(adj, K, alpha), atol=1e-5)


def test_surfing_top_k_keeps_k_per_row_and_prunes_each_step():
    g = torch.Generator().manual_seed(4)
    n = 30
    adj = (torch.rand(n, n, generator=g) < 0.3).double() * torch.rand(n, n, generator=g, dtype=torch.float64)
    graph = SparseGraph.from_torch_sparse(adj.to_sparse())  # random weights: no ties at the cut
    got = surfing_graph(graph, K=3, alpha=0.9, top_k=5)
    assert (got.crow[1:] - got.crow[:-1]).max() <= 5
    # reference with pruning after each step and for M
    deg = adj.sum(1, keepdim=True)
    p = torch.where(deg > 0, adj / deg.clamp(min=1e-12), torch.zeros_like(adj))
    eye = torch.eye(n, dtype=torch.float64)
    a, m = eye, torch.zeros_like(adj)
    for _ in range(3):
        a = dense_topk_rows(0.9 * a @ p + 0.1 * eye, 5)
        m = m + a
    assert torch.allclose(got.to_dense().double(), dense_topk_rows(m, 5), atol=1e-5)


def test_graphs_use_training_split_only(make_cfg):
    from graphrec.experiment import build_experiment

    cfg = make_cfg("model=lightgcn")
    exp = build_experiment(cfg)
    tu, ti = exp.task.train_pairs
    held = torch.cat([exp.task.parts["valid"][0], exp.task.parts["test"][0]]), torch.cat([exp.task.parts["valid"][1], exp.task.parts["test"][1]])
    n_users = exp.dataset.n_users
    adj = exp.model.graphs["adj"]
    rows, cols = adj.row, adj.col
    ui = rows < n_users
    edges = set(zip(rows[ui].tolist(), (cols[ui] - n_users).tolist()))
    assert edges == set(zip(tu.tolist(), ti.tolist()))
    assert not edges & set(zip(held[0].tolist(), held[1].tolist()))
    store = GraphStore(TrainingGraphInput(tu, ti, n_users, exp.dataset.n_items))
    co_train = store.get(GraphSpec("cointeraction", {"min_users": 2})).to_dense()
    all_u, all_i = torch.from_numpy(exp.dataset.user), torch.from_numpy(exp.dataset.item)
    co_all = cointeraction_graph(all_u, all_i, n_users, exp.dataset.n_items, min_users=2).to_dense()
    r = torch.zeros(n_users, exp.dataset.n_items)
    r[tu, ti] = 1
    ref = r.T @ r
    ref.fill_diagonal_(0)
    ref[ref < 2] = 0
    assert torch.equal(co_train, ref) and not torch.equal(co_train, co_all)


def test_empty_training_split_is_an_error():
    """A store over no interactions (a content-only dataset) builds tag graphs, but no interaction graph."""
    store = GraphStore(TrainingGraphInput(torch.zeros(0, dtype=torch.long), torch.zeros(0, dtype=torch.long), 3, 3))
    with pytest.raises(DataError, match="training split is empty"):
        store.get(GraphSpec("bipartite"))


def test_cache_reuses_and_rebuilds_on_changed_input(tmp_path):
    user, item = random_interactions()
    feats = {"visual": torch.randn(20, 4)}
    spec = GraphSpec("surfing", {"of": {"kind": "knn", "modality": "visual", "k": 3}, "top_k": 4})
    first = GraphStore(TrainingGraphInput(user, item, 30, 20, feats), tmp_path)
    g1 = first.get(spec)
    assert first.cache_hits[spec.key()] is False and len(list(tmp_path.glob("*.npz"))) == 2
    second = GraphStore(TrainingGraphInput(user, item, 30, 20, feats), tmp_path)
    g2 = second.get(spec)
    assert second.cache_hits[spec.key()] is True and torch.equal(g1.to_dense(), g2.to_dense())
    changed = {"visual": feats["visual"].clone()}
    changed["visual"][0, 0] += 1.0
    third = GraphStore(TrainingGraphInput(user, item, 30, 20, changed), tmp_path)
    third.get(spec)
    assert third.cache_hits[spec.key()] is False and len(list(tmp_path.glob("*.npz"))) == 4
    # a corrupt cache file is rebuilt, not trusted
    for f in tmp_path.glob("*.npz"):
        f.write_bytes(b"junk")
    fourth = GraphStore(TrainingGraphInput(user, item, 30, 20, feats), tmp_path)
    assert torch.equal(fourth.get(spec).to_dense(), g1.to_dense())
    assert not list(tmp_path.glob(".*"))  # no temp files left behind


def test_graphs_info_cli(tmp_path):
    from tests.test_bad_input import assert_clean_error, run_cli

    proc = run_cli("graphs", "info", "graph=cointeraction", "graph.min_users=2", "dataset.synthetic.n_users=300",
                   "dataset.synthetic.n_items=200", env_root=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "nodes 200" in proc.stdout and "edges" in proc.stdout and "degree" in proc.stdout
    proc = run_cli("graphs", "info", "graph=knn", "graph.modality=smell", env_root=tmp_path)
    assert_clean_error(proc, "smell")
    proc = run_cli("graphs", "info", "graph=spiral", env_root=tmp_path)
    assert_clean_error(proc, "spiral")


NORMS = ["symmetric", "row", "plus_one", "row_symmetric", "none"]
EVERY_SPEC = [GraphSpec("bipartite", {"norm": n}) for n in NORMS] + \
    [GraphSpec("bipartite", {"norm": "row", "self_loops": True})] + \
    [GraphSpec("knn", {"modality": "visual", "k": 3, "symmetric": s, "norm": n}) for s in (True, False) for n in NORMS] + \
    [GraphSpec("cointeraction", {"min_users": 1}), GraphSpec("cointeraction", {"min_users": 1, "top_k": 3}),
     GraphSpec("item_constraint", {"k": 3}), GraphSpec("surfing", {"of": {"kind": "bipartite"}, "top_k": 4})]


@pytest.mark.parametrize("spec", EVERY_SPEC, ids=lambda s: s.key())
def test_every_built_graph_is_symmetric_when_flagged_and_backward_uses_its_transpose(spec):
    """A graph flagged symmetric reuses A in backward, so a wrong flag means wrong gradients."""
    user, item = random_interactions()
    store = GraphStore(TrainingGraphInput(user, item, 30, 20, {"visual": torch.randn(20, 4)}))
    graph = store.get(spec)
    dense = graph.to_dense()
    if graph.symmetric or spec.kind == "bipartite":  # bipartite: also keeps the flag where the values allow it
        assert graph.symmetric == torch.allclose(dense, dense.T)
    x = torch.randn(graph.shape[1], 3, dtype=dense.dtype, requires_grad=True)
    g = torch.randn(graph.shape[0], 3, dtype=dense.dtype)
    grad, = torch.autograd.grad(((graph @ x) * g).sum(), x)
    assert torch.allclose(grad, dense.T @ g, atol=1e-5)


@pytest.mark.parametrize("chunked", [False, True])
def test_topk_of_small_counts_equals_the_partition_loop(monkeypatch, chunked):
    """Integer counts take a vectorised histogram path; it must keep exactly what the per-row loop keeps."""
    import scipy.sparse as sp

    from graphrec.graphs import topk
    rng = np.random.default_rng(0)
    if chunked:  # force the row-chunked histogram
        monkeypatch.setattr(topk, "_topk_small_counts", _chunky(topk._topk_small_counts, monkeypatch, topk))
    for trial in range(100):
        n, m = int(rng.integers(1, 30)), int(rng.integers(1, 40))
        a = sp.random(n, m, density=rng.uniform(0.05, 1), random_state=int(rng.integers(1e9)), format="csr")
        a.data = rng.integers(1, 6, a.data.size).astype(np.float32)
        a.sort_indices()
        k = int(rng.integers(1, 12))
        fast = topk.topk_csr_rows(a.indptr, a.indices, a.data, k)
        loop = topk.topk_csr_rows(a.indptr, a.indices, a.data - 0.5, k)  # not integers: the per-row loop
        assert np.array_equal(fast, loop), trial


def _chunky(fn, monkeypatch, module):
    def wrapped(indptr, counts, k):
        monkeypatch.setattr(module, "_HIST_BUDGET", 7)
        return fn(indptr, counts, k)
    return wrapped


def dense_consistent_knn(features: dict, modality: str, k: int) -> torch.Tensor:
    """DA-MRS's construction, dense: S_m for every modality, pairs below any mean dropped, top-k of S_modality."""
    sims = {m: F.normalize(x, dim=1) @ F.normalize(x, dim=1).T for m, x in features.items()}
    candidate = torch.stack([s >= s.mean() for s in sims.values()]).all(0)
    score = sims[modality].masked_fill(~candidate, float("-inf"))
    adj = torch.zeros_like(score)
    for i in range(score.shape[0]):
        top = score[i].topk(k)
        adj[i, top.indices[torch.isfinite(top.values)]] = 1
    r = adj.sum(1).rsqrt()
    return adj * r[:, None] * r[None, :]


@pytest.mark.parametrize("modality,k,block", [("visual", 3, None), ("acoustic", 5, 4), ("visual", 40, 7)])
def test_consistent_knn_matches_dense(modality, k, block):
    from graphrec.graphs.consistent_knn import consistent_knn_graph
    g = torch.Generator().manual_seed(3)
    # non-negative features as CNN outputs are, so the means are positive and candidates sparse-ish
    features = {"visual": torch.rand(30, 6, generator=g), "acoustic": torch.rand(30, 4, generator=g) ** 3}
    got = consistent_knn_graph(features, modality, k=k, block_size=block)
    want = dense_consistent_knn(features, modality, min(k, 30))
    assert torch.allclose(got.to_dense(), want, atol=1e-6)
    # the mask matters: without the other modality's threshold the graph differs
    alone = dense_consistent_knn({modality: features[modality]}, modality, min(k, 30))
    assert not torch.allclose(got.to_dense(), alone)
    assert bool((got.to_dense().diagonal() > 0).all())  # every item is its own candidate


def test_mean_cosine_is_the_mean_of_the_dense_matrix():
    from graphrec.graphs.consistent_knn import mean_cosine
    z = F.normalize(torch.randn(50, 8, generator=torch.Generator().manual_seed(0)), dim=1)
    assert torch.allclose(mean_cosine(z), (z @ z.T).mean(), atol=1e-6)


def test_consistent_knn_from_the_store_covers_every_modality_in_its_key(tmp_path):
    user, item = random_interactions()
    g = torch.Generator().manual_seed(1)
    feats = {"visual": torch.rand(20, 4, generator=g), "acoustic": torch.rand(20, 3, generator=g)}
    spec = GraphSpec("consistent_knn", {"modality": "visual", "k": 4})
    store = GraphStore(TrainingGraphInput(user, item, 30, 20, feats), tmp_path)
    graph = store.get(spec)
    assert torch.allclose(graph.to_dense(), dense_consistent_knn(feats, "visual", 4), atol=1e-6)
    changed = {"visual": feats["visual"], "acoustic": torch.rand(20, 3, generator=g)}
    assert GraphStore(TrainingGraphInput(user, item, 30, 20, changed)).cache_key(spec) != store.cache_key(spec)
    with pytest.raises(ConfigError, match="graph.modality 'textual'"):
        store.get(GraphSpec("consistent_knn", {"modality": "textual"}))
