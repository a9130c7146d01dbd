"""HUIGN: its equations on small cases, its ablation switches, sparse-only memory, and recovery of the
planted coarse intents of the synthetic world."""

import math
import subprocess
import sys

import numpy as np
import pytest
import torch

from graphrec.evaluation.clustering import ari, nmi
from graphrec.graphs.cointeraction import cointeraction_graph
from graphrec.graphs.sparse import SparseGraph
from graphrec.errors import ConfigError
from graphrec.models.ranking.huign import PAPER, HUIGN, coarsened_adjacency, entropy_loss, independence_loss, split_symmetric


def test_nmi_and_ari_hand_cases():
    a = np.array([0, 0, 1, 1])
    assert nmi(a, np.array([5, 5, 7, 7])) == pytest.approx(1.0)
    assert ari(a, np.array([5, 5, 7, 7])) == pytest.approx(1.0)
    assert nmi(a, np.array([0, 1, 0, 1])) == pytest.approx(0.0, abs=1e-12)
    # contingency [[1,1],[0,2]]: I = ... computed by hand in nats
    b = np.array([0, 1, 1, 1])
    pa, pb = np.array([0.5, 0.5]), np.array([0.25, 0.75])
    pab = np.array([[0.25, 0.25], [0.0, 0.5]])
    mi = sum(pab[i, j] * math.log(pab[i, j] / (pa[i] * pb[j])) for i in range(2) for j in range(2) if pab[i, j] > 0)
    h = lambda p: -sum(x * math.log(x) for x in p if x > 0)
    assert nmi(a, b) == pytest.approx(2 * mi / (h(pa) + h(pb)))


def test_losses_hand_computed():
    gamma = torch.tensor([[1.0, 0.0], [0.5, 0.5]])
    assert entropy_loss(gamma).item() == pytest.approx((0 + math.log(2)) / 2 / 2)
    x = torch.tensor([[1.0, 0.0, 0.0], [0.0, 2.0, 0.0]])
    # X Xᵀ − I = diag(0, 3) -> Frobenius 3, divided by K = 2
    assert independence_loss(x).item() == pytest.approx(1.5)


def small_model(levels=(4, 2), **kw):
    g = torch.Generator().manual_seed(0)
    n_users, n_items = 12, 10
    user = torch.randint(0, n_users, (80,), generator=g)
    item = torch.randint(0, n_items, (80,), generator=g)
    feats = {"visual": torch.randn(n_items, 6, generator=g), "acoustic": torch.randn(n_items, 3, generator=g)}
    model = HUIGN(n_users, n_items, feats, embedding_dim=5, dim=4, levels=list(levels), **{"min_users": 2, **kw})
    spec = model.graph_specs()["items"]  # as the GraphStore would build it (min_users, top_k)
    model.attach_graphs({"items": cointeraction_graph(user, item, n_users, n_items, **spec.params)})
    return model, (user, item)


def test_hierarchy_equations_against_dense():
    model, (user, item) = small_model(levels=(4, 3, 2))
    hier = model.hierarchies["visual"]
    a = model.graphs["items"].to_dense()
    assert torch.equal(a, a.T) and torch.all(torch.diagonal(a) == 1)  # binary co-interaction + self-loops
    deg = a.sum(1)
    x = model.feat_visual @ hier.proj.weight.T
    z = (a / torch.sqrt(deg[:, None] * deg[None, :])) @ x  # eq. 4
    gammas, ent, ind = model._hierarchy("visual")
    scale = hier.log_scale.exp()  # learnable per-level affinity scale (1 at level 1 initially)
    assert scale[0].item() == pytest.approx(1.0)
    g1 = torch.softmax(z @ hier.supernodes[0].T, 1)  # eq. 6–7
    assert torch.allclose(gammas[0], g1, atol=1e-5)
    a1 = g1.T @ a @ g1  # eq. 8
    d1 = a1.sum(1)
    z1 = (a1 / torch.sqrt(d1[:, None] * d1[None, :])) @ hier.supernodes[0]
    g2 = torch.softmax(scale[1] * (z1 @ hier.supernodes[1].T), 1)
    assert torch.allclose(gammas[1], g2, atol=1e-5)
    reps = model.intents()["visual"]
    assert torch.allclose(reps[1], g1 @ g2, atol=1e-5) and reps[2].shape == (10, 2)  # eq. 11
    assert torch.allclose(reps[2].sum(1), torch.ones(10), atol=1e-5)  # distributions
    users, items = model.embeddings()
    assert users.shape == (12, 5 + 9) and items.shape == (10, 5 + 9)  # eq. 12–15: ID ‖ Σ_m intents


def test_coarsened_adjacency_equals_dense_quadratic_form_and_gradient():
    g = torch.Generator().manual_seed(3)
    dense = torch.rand(9, 9, generator=g, dtype=torch.float64) * (torch.rand(9, 9, generator=g) < 0.4)
    dense = dense + dense.T  # symmetric, with a non-unit diagonal on some nodes
    row, col = dense.nonzero(as_tuple=True)
    upper, diag = split_symmetric(SparseGraph.from_coo(row, col, dense[row, col], (9, 9), symmetric=True))
    assert upper.nnz == int((torch.triu(dense, 1) != 0).sum()) and torch.equal(diag, torch.diagonal(dense))
    gamma = torch.softmax(torch.randn(9, 4, generator=g, dtype=torch.float64), 1).requires_grad_(True)
    out = coarsened_adjacency(gamma, upper, diag)
    assert torch.allclose(out, gamma.T @ dense @ gamma)
    weight = torch.randn(4, 4, generator=g, dtype=torch.float64)
    (out * weight).sum().backward()
    assert torch.allclose(gamma.grad, dense @ gamma @ (weight + weight.T))


@pytest.mark.parametrize("lam_e,lam_i", [(0.0, 0.3), (0.3, 0.0), (0.0, 0.0)])
def test_ablation_switches_zero_their_terms(lam_e, lam_i):
    model, _ = small_model(lambda_entropy=lam_e, lambda_independence=lam_i)
    batch = {"user": torch.tensor([0, 1]), "pos": torch.tensor([2, 3]), "neg": torch.tensor([4, 5])}
    out = model.loss(batch)
    assert (out["entropy"].item() == 0) == (lam_e == 0)
    assert (out["independence"].item() == 0) == (lam_i == 0)
    sum(out.values()).backward()
    assert model.hierarchies["visual"].supernodes[0].grad is not None


def test_levels_and_raw_dimension_option():
    model, _ = small_model(levels=(6,), project=False)
    assert model.hierarchies["visual"].proj is None
    assert model.hierarchies["visual"].supernodes[0].shape == (6, 6)
    assert model.hierarchies["acoustic"].supernodes[0].shape == (6, 3)
    assert model.embeddings()[1].shape == (10, 5 + 6)


def test_no_dense_item_by_item_matrix():
    """100,000 items: a dense items × items float matrix would need 40 GB; training steps stay small."""
    code = """
import resource, torch, warnings
warnings.filterwarnings("ignore")
from graphrec.models.ranking.huign import HUIGN
from graphrec.graphs.cointeraction import cointeraction_graph
n_users, n_items = 50_000, 100_000
g = torch.Generator().manual_seed(0)
user = torch.randint(0, n_users, (400_000,), generator=g)
item = torch.randint(0, n_items, (400_000,), generator=g)
feats = {"visual": torch.randn(n_items, 16, generator=g)}
m = HUIGN(n_users, n_items, feats, levels=[32, 8, 4], min_users=1)
m.attach_graphs({"items": cointeraction_graph(user, item, n_users, n_items, min_users=1)})
opt = torch.optim.Adam(m.parameters())
for _ in range(2):
    b = {"user": user[:1024], "pos": item[:1024], "neg": item[1024:2048]}
    loss = sum(m.loss(b).values()); opt.zero_grad(); loss.backward(); opt.step()
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    assert float(out.stdout.strip().splitlines()[-1]) < 3000  # MB


def test_recovers_planted_coarse_intents(make_cfg, tmp_path):
    from graphrec.experiment import build_experiment
    from graphrec.training.run import run_training

    overrides = ["model=huign", "dataset.synthetic.n_users=1000", "dataset.synthetic.n_items=600",
                 "dataset.synthetic.interactions_per_user=20", "model.levels=[32,8,4]"]

    def top_level_nmi(model, ds):
        with torch.no_grad():
            reps = model.intents()
        top = sum(r[-1] for r in reps.values())  # top-level intent distribution, modalities summed
        return nmi(top.argmax(1).cpu().numpy(), ds.extras["item_coarse"])

    untrained = build_experiment(make_cfg(*overrides, small=False))
    before = top_level_nmi(untrained.model, untrained.dataset)
    cfg = make_cfg(*overrides, "trainer.epochs=25", "trainer.progress=false", "device=cpu", small=False)
    run_training(cfg, tmp_path / "run")
    trained = build_experiment(cfg)
    trained.model.load_state_dict(torch.load(tmp_path / "run" / "checkpoints" / "best.pt", weights_only=True)["model"])
    after = top_level_nmi(trained.model, trained.dataset)
    print(f"NMI of top-level intents vs planted coarse intents: untrained {before:.3f}, trained {after:.3f}")
    assert after >= 0.3 and after >= 3 * before


def test_viz_intents_writes_png(tmp_path):
    from tests.conftest import SMALL_WORLD
    from tests.test_bad_input import assert_clean_error, run_cli

    run = tmp_path / "run"
    proc = run_cli("train", "model=huign", *SMALL_WORLD, "trainer.epochs=2", f"hydra.run.dir={run}", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    proc = run_cli("viz", "intents", f"checkpoint={run}", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    png = run / "figures" / "intents.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000
    lg = tmp_path / "lg"
    assert run_cli("train", "model=mf", *SMALL_WORLD, "trainer.epochs=1", f"hydra.run.dir={lg}", cwd=tmp_path).returncode == 0
    assert_clean_error(run_cli("viz", "intents", f"checkpoint={lg}", cwd=tmp_path), "no intents")


def test_feature_norm_centres_and_standardises_the_item_features():
    for how in ("center", "standardize"):
        model, _ = small_model(feature_norm=how)
        x = model.feat_visual
        assert torch.allclose(x.mean(0), torch.zeros(6), atol=1e-5)
        if how == "standardize":
            assert torch.allclose(x.std(0), torch.ones(6), atol=1e-4)
    raw, _ = small_model()
    assert not torch.allclose(raw.feat_visual.mean(0), torch.zeros(6), atol=1e-3)  # 'none' keeps them as given


def test_count_weights_top_k_and_row_aggregation_against_dense():
    model, (user, item) = small_model(edge_weight="count", top_k=2, aggregation="row")
    r = torch.zeros(12, 10)
    r[user, item] = 1.0
    counts = r.T @ r
    counts.fill_diagonal_(0)
    counts[counts < 2] = 0
    built = cointeraction_graph(user, item, 12, 10, min_users=2, top_k=2).to_dense()
    keep = built > 0
    assert torch.equal(built[keep], counts[keep]) and (keep.sum(1) <= 2).all()
    union = torch.where(keep | keep.T, counts, torch.zeros_like(counts)) + torch.eye(10)  # A ∪ Aᵀ, + I
    a = model.graphs["items"].to_dense()
    assert torch.equal(a, union) and torch.equal(a, a.T)
    smoothed = (union / union.sum(1, keepdim=True)) @ model.feat_visual  # D^-1 A X
    assert torch.allclose(model._smoothed["visual"], smoothed, atol=1e-5)


def test_per_modality_scoring_scores_each_modality_against_itself():
    model, _ = small_model(scoring="per_modality")
    users, items = model.embeddings()
    assert users.shape == (12, 5 + 2 * 6) and items.shape == (10, 5 + 2 * 6)  # ID ‖ visual ‖ acoustic intents
    reps = model.intents()
    v = {m: torch.cat(r, 1) for m, r in reps.items()}
    expected = model.user_id @ model.item_id.T + sum(model.user_intents[m] @ v[m].T for m in v)
    assert torch.allclose(users @ items.T, expected, atol=1e-5)
    summed, _ = small_model()
    assert summed.embeddings()[0].shape == (12, 5 + 6)


def test_paper_variant_is_the_printed_equations_and_bad_switches_are_named():
    model, _ = small_model(variant="paper", self_loops=True, feature_norm="standardize", scoring="per_modality")
    assert model.switches == PAPER
    assert torch.all(torch.diagonal(model.graphs["items"].to_dense()) == 0)  # eq. 4 without self-loops
    assert model.hierarchies["visual"].log_scale is None  # eq. 6 without the learnable scale
    with pytest.raises(ConfigError, match="model.aggregation: expected one of symmetric, row"):
        small_model(aggregation="mean")
