"""MTIN: its units against direct references, and the planted structure of the synthetic click world that its
mechanisms must recover (multi-interest users, planted false-positive clicks)."""

import numpy as np
import pytest
import torch

from graphrec.models.ctr.common import history
from graphrec.models.ctr.mtin import MTIN, kmeans_centres
from graphrec.models.ctr.mtin_layers import InterestMask, TemporalMasks, discounted_scores, interest_routing


def reference_routing(p, valid, iterations, base, epsilon):
    """Algorithm 1 row by row with Python loops (all items of an iteration move together)."""
    B, L, s = p.shape
    assign = -np.ones((B, L), int)
    for b in range(B):
        for _ in range(iterations):
            avg = [np.mean([p[b, j, g] for j in range(L) if assign[b, j] == g]) if (assign[b] == g).any() else 0.0
                   for g in range(s)]
            new = assign[b].copy()
            for j in range(L):
                if not valid[b, j]:
                    continue
                xi = [np.log(base + max(avg[g] - p[b, j, g], 0.0)) / np.log(base) for g in range(s)]
                pd = [p[b, j, g] / xi[g] for g in range(s)]
                g_star = int(np.argmax(pd))
                if g_star != assign[b, j] and pd[g_star] > epsilon:
                    new[j] = g_star
            assign[b] = new
    return assign


def test_routing_matches_the_loop_reference_and_discounts_items_under_their_group_average():
    g = torch.Generator().manual_seed(0)
    p = torch.rand(5, 9, 3, generator=g)
    valid = torch.arange(9)[None, :] < torch.tensor([9, 6, 1, 0, 4])[:, None]
    assign, weight = interest_routing(p, valid, iterations=3, base=2.0, epsilon=0.3)
    ref = reference_routing(p.numpy(), valid.numpy(), 3, 2.0, 0.3)
    assert (assign.numpy() == ref).all()
    assert (assign[~valid] == -1).all() and (weight[~valid] == 0).all()
    # one group, scores .9 .9 .9 .3: the low item is discounted by log2(2 + (avg − .3)), the others barely
    p1 = torch.tensor([[[0.9], [0.9], [0.9], [0.3]]])
    a1, w1 = interest_routing(p1, torch.ones(1, 4, dtype=torch.bool), iterations=2, epsilon=0.1)
    avg = (0.9 * 3 + 0.3) / 4
    assert (a1 == 0).all()
    assert w1[0, 3].item() == pytest.approx(0.3 / np.log2(2 + avg - 0.3))
    assert w1[0, 0].item() == pytest.approx(0.9)
    # a score never above ε keeps the item out of every group
    a2, w2 = interest_routing(torch.full((1, 2, 2), 0.05), torch.ones(1, 2, dtype=torch.bool), epsilon=0.1)
    assert (a2 == -1).all() and (w2 == 0).all()
    assert discounted_scores(p1, torch.full((1, 4), -1), 2.0).equal(p1)  # empty groups: no discount


def test_temporal_masks_match_equations_5_to_7():
    torch.manual_seed(0)
    d, n_masks, s = 4, 3, 2
    tm = TemporalMasks(d, n_masks)
    x = torch.randn(2, 6, d)
    assign = torch.tensor([[0, 1, 0, 0, -1, 1], [1, 1, 1, -1, -1, -1]])
    out = tm(x, assign, s)
    omega = tm.omega.detach()
    for b in range(2):
        for g in range(s):
            members = [j for j in range(6) if assign[b, j] == g]
            xs = x[b, members]
            parts = []
            for k in range(n_masks):
                q = xs @ tm.bilinear[k] @ xs.T
                l = len(members)
                mask = torch.tensor([[np.exp(-(i - j) * omega[k].item()) if i > j else 0.0 for j in range(l)]
                                     for i in range(l)]) if l else torch.zeros(0, 0)
                parts.append(((mask.float() * q) @ xs).sum(0) if l else torch.zeros(d))
            expected = tm.merge(torch.cat(parts))
            assert torch.allclose(out[b, g], expected, atol=1e-5)


def test_interest_mask_is_zero_one_forward_and_skips_empty_groups():
    torch.manual_seed(0)
    im = InterestMask(4, threshold=0.3)
    memory, groups = torch.randn(1, 3, 4), torch.randn(1, 3, 4)
    present = torch.tensor([[True, True, False]])
    h, w = im(memory, groups, present)
    assert torch.allclose(w.sum(-1), torch.ones(1, 3)) and (w[..., 2] == 0).all()
    expected = ((w > 0.3).float() @ groups)
    assert torch.allclose(h, expected, atol=1e-6)


def reference_sequential_routing(p, valid, iterations, base, epsilon):
    """Algorithm 1 as printed: items visited in order, each seeing the moves before it."""
    B, L, s = p.shape
    assign = -np.ones((B, L), int)
    for b in range(B):
        for _ in range(iterations):
            for j in range(L):
                if not valid[b, j]:
                    continue
                avg = [np.mean([p[b, i, g] for i in range(L) if assign[b, i] == g]) if (assign[b] == g).any()
                       else 0.0 for g in range(s)]
                pd = [p[b, j, g] / (np.log(base + max(avg[g] - p[b, j, g], 0.0)) / np.log(base)) for g in range(s)]
                g_star = int(np.argmax(pd))
                if g_star != assign[b, j] and pd[g_star] > epsilon:
                    assign[b, j] = g_star
    return assign


def test_sequential_routing_is_algorithm_1_in_its_order_and_argmax_removes_it():
    g = torch.Generator().manual_seed(3)
    p = torch.rand(6, 8, 3, generator=g)
    valid = torch.arange(8)[None, :] < torch.tensor([8, 7, 5, 1, 0, 3])[:, None]
    assign, weight = interest_routing(p, valid, iterations=3, base=2.0, epsilon=0.35, order="sequential")
    assert (assign.numpy() == reference_sequential_routing(p.numpy(), valid.numpy(), 3, 2.0, 0.35)).all()
    parallel, _ = interest_routing(p, valid, iterations=3, base=2.0, epsilon=0.35)
    assert not assign.equal(parallel)  # the orders differ on these scores
    free, w = interest_routing(p, valid, order="argmax")
    assert free[valid].equal(p.argmax(-1)[valid]) and (free[~valid] == -1).all()
    assert torch.allclose(w[valid], p.max(-1).values[valid])


def test_per_group_temporal_masks_use_each_groups_own_matrix():
    torch.manual_seed(1)
    d, n_masks, s = 3, 2, 2
    tm = TemporalMasks(d, n_masks, n_groups=s, merge_layers=2)
    assert tm.bilinear.shape == (s, n_masks, d, d) and len([m for m in tm.merge if isinstance(m, torch.nn.Linear)]) == 2
    x = torch.randn(1, 5, d)
    assign = torch.tensor([[0, 1, 0, 1, 0]])
    out = tm(x, assign, s)
    omega = tm.omega.detach()
    for g in range(s):
        members = [j for j in range(5) if assign[0, j] == g]
        xs = x[0, members]
        parts = []
        for k in range(n_masks):
            q = xs @ tm.bilinear[g, k] @ xs.T  # eq. 5 with W^k_g
            mask = torch.tensor([[np.exp(-(i - j) * omega[k].item()) if i > j else 0.0 for j in range(len(members))]
                                 for i in range(len(members))]).float()
            parts.append(((mask * q) @ xs).sum(0))
        assert torch.allclose(out[0, g], tm.merge(torch.cat(parts)), atol=1e-5)


@pytest.mark.parametrize("variant", ["paper", "extended"])
def test_matching_scores_follow_eq_2_to_4(variant):
    torch.manual_seed(0)
    model = MTIN(2, 10, embedding_dim=4, hidden=4, n_masks=2, n_groups=3, variant=variant)
    ms = model.branches["pos"].matching
    x, memory = torch.randn(2, 5, 4), torch.randn(2, 3, 4)
    torch.set_grad_enabled(False)
    got = ms(x, memory)
    relu = torch.relu
    for b in range(2):
        for j in range(5):
            for g in range(3):
                s = ms.co_attention(relu(ms.item_proj(x[b, j]) + ms.group_proj(memory[b, g])))  # eq. 2
                x_hat, c_hat = s * x[b, j], s * memory[b, g]  # eq. 3
                want = ms.score[2](relu(ms.score[0](torch.cat([x_hat, c_hat]))))  # eq. 4
                if variant == "extended":  # the additions: γ cos(x̂, ĉ), then a sigmoid
                    want = torch.sigmoid(want + ms.temperature * torch.nn.functional.cosine_similarity(
                        x_hat, c_hat, dim=0))
                assert float(got[b, j, g]) == pytest.approx(float(want), rel=1e-4, abs=1e-6)
    torch.set_grad_enabled(True)


def _batch(n_users=3, length=6, n_items=12, seed=0):
    g = torch.Generator().manual_seed(seed)
    out = {"user": torch.tensor([0, 1, 2, 0]), "item": torch.randint(0, n_items, (4,), generator=g)}
    for branch in ("pos", "neg"):
        out[f"{branch}_items"] = torch.randint(0, n_items, (4, length), generator=g)
        out[f"{branch}_lengths"] = torch.tensor([length, 4, 1, 0])
        out[f"{branch}_times"] = torch.zeros(4, length, dtype=torch.long)
    return out


def _lively(model):
    """Weights away from the small initialisation, so the memory, r_g and h_p all matter."""
    with torch.no_grad():
        for b in model.branches.values():
            b.memory.weight.normal_()
        model.items.emb.weight.normal_()
    return model.eval()


@pytest.mark.parametrize("readout", ["sum", "target"])
def test_a_branch_adds_memory_group_and_interest_and_reads_out_per_eq_10_11(readout):
    """slot_p = c_p + r_p + h_p; q = Σ_p slot_p (eq. 11) or the candidate's attention over the slots; P(x_e|H) =
    MLP([q ; x_e]). Replacing the slots by the raw memory (dropping eq. 5–10) fails here."""
    torch.manual_seed(0)
    model = _lively(MTIN(3, 12, embedding_dim=4, hidden=5, n_masks=2, n_groups=3, readout=readout,
                         user_embedding=False))
    batch = _batch()
    branch = model.branches["pos"]
    items, _, valid = history(batch, "pos")
    x, target = model.items(items), model.items(batch["item"])
    with torch.no_grad():
        logit, _, details = branch(batch["user"], x, valid, target, model.routing)
        memory = branch.memory(batch["user"]).view(-1, 3, 4)
        assign, weight = details["assign"], details["weight"]
        r = branch.group_representations(x, assign, weight)
        present = (assign[:, :, None] == torch.arange(3)).any(1)
        r = r * present[..., None]
        h, _ = branch.interest(memory, r, present)
        assert r.abs().sum() > 0 and h.abs().sum() > 0
        for b in range(4):
            slots = memory[b] + r[b] + h[b]
            if readout == "sum":
                q = slots.sum(0)
            else:
                attend = torch.softmax(slots @ target[b] / 2.0, 0)
                q = 3 * (attend[:, None] * slots).sum(0)
            want = branch.predictor(torch.cat([q, target[b]]))
            assert float(logit[b]) == pytest.approx(float(want), rel=1e-4, abs=1e-5)


def test_the_prediction_combines_both_branches_linearly():
    torch.manual_seed(0)
    model = _lively(MTIN(3, 12, embedding_dim=4, hidden=5, n_masks=2, n_groups=2, variant="extended"))
    with torch.no_grad():
        model.combine.weight.copy_(torch.tensor([[0.7, -1.3]]))
        model.combine.bias.fill_(0.2)
    batch = _batch(seed=1)
    profile = model.user_emb(batch["user"])
    target = model.items(batch["item"])
    with torch.no_grad():
        parts = []
        for name in ("pos", "neg"):
            items, _, valid = history(batch, name)
            parts.append(model.branches[name](batch["user"], model.items(items), valid, target, model.routing,
                                              profile)[0])
        assert torch.allclose(model.predict(batch), 0.7 * parts[0] - 1.3 * parts[1] + 0.2, atol=1e-5)
    single = _lively(MTIN(3, 12, embedding_dim=4, hidden=5, n_masks=2, n_groups=2, use_negative=False))
    assert list(single.branches) == ["pos"] and single.combine.weight.shape == (1, 1)


def test_memory_moves_toward_the_weighted_centre_of_each_slots_items():
    torch.manual_seed(0)
    model = MTIN(3, 12, embedding_dim=4, hidden=4, n_masks=2, n_groups=2, memory_momentum=0.75)
    branch = model.branches["pos"]
    user = torch.tensor([0, 1, 0])  # user 0 twice: the mean of its two rows' centres
    x = torch.randn(3, 4, 4)
    assign = torch.tensor([[0, 0, 1, -1], [1, 1, -1, -1], [0, -1, -1, -1]])
    weight = torch.rand(3, 4) * (assign >= 0)
    before = branch.memory.weight.detach().clone().view(3, 2, 4)
    branch.update_memory(user, x, assign, weight)
    after = branch.memory.weight.detach().view(3, 2, 4)
    centres = {}
    for row, u in enumerate(user.tolist()):
        for g in range(2):
            members = [j for j in range(4) if assign[row, j] == g]
            if members:
                w = weight[row, members]
                centres.setdefault((u, g), []).append((w[:, None] * x[row, members]).sum(0) / w.sum())
    for u in range(3):
        for g in range(2):
            if (u, g) in centres:
                want = 0.75 * before[u, g] + 0.25 * torch.stack(centres[(u, g)]).mean(0)
            else:
                want = before[u, g]  # no item routed to the slot (user 2 is not in the batch)
            assert torch.allclose(after[u, g], want, atol=1e-6)


def test_paper_variant_is_the_printed_model_and_each_switch_overrides_it():
    from graphrec.models.ctr.mtin import PAPER

    paper = MTIN(3, 12, embedding_dim=4, hidden=4, n_masks=2, n_groups=2, variant="paper")
    assert paper.switches == PAPER and paper.user_emb is None and paper.routing["order"] == "sequential"
    branch = paper.branches["pos"]
    assert not branch.matching.affinity and not branch.matching.squash and branch.readout == "sum"
    assert branch.temporal.bilinear.dim() == 4 and branch.momentum == 1.0
    paper.train()
    before = branch.memory.weight.detach().clone()
    paper.loss({**_batch(), "label": torch.tensor([1.0, 0, 1, 0])})
    assert branch.memory.weight.equal(before)  # no moving-average memory
    mixed = MTIN(3, 12, embedding_dim=4, hidden=4, n_masks=2, n_groups=2, variant="paper", readout="target")
    assert mixed.branches["pos"].readout == "target" and mixed.switches["affinity"] is False
    ablated = MTIN(3, 12, embedding_dim=4, hidden=4, n_masks=2, n_groups=2, temporal_masks=False, interest_mask=False)
    assert ablated.branches["pos"].temporal is None and ablated.branches["pos"].interest is None
    ablated.predict(_batch())  # still a model


def test_kmeans_centres_recover_planted_clusters_per_row():
    g = torch.Generator().manual_seed(0)
    centres = torch.tensor([[5.0, 0.0], [-5.0, 0.0]])
    x = centres[torch.tensor([0, 1] * 10)] + 0.1 * torch.randn(20, 2, generator=g)
    valid = torch.ones(1, 20, dtype=torch.bool)
    found = kmeans_centres(x[None], valid, 2)[0]
    assert torch.cdist(found, centres).min(1).values.max() < 0.2


def test_memory_init_switch_and_bad_values():
    from graphrec.errors import ConfigError

    model = MTIN(3, 10, embedding_dim=4, hidden=4, n_masks=2, n_groups=2, memory_init="random")
    before = model.branches["pos"].memory.weight.clone()
    user, item = torch.tensor([0, 0, 1, 2]), torch.tensor([1, 2, 3, 4])
    model.init_from_training(user, item, torch.tensor([1, 1, 1, 0]), torch.arange(4))
    assert model.branches["pos"].memory.weight.equal(before)  # MTIN-P: no pre-trained memory
    kmeans = MTIN(3, 10, embedding_dim=4, hidden=4, n_masks=2, n_groups=2)
    kmeans.init_from_training(user, item, torch.tensor([1, 1, 1, 0]), torch.arange(4))
    slots = kmeans.branches["pos"].memory.weight.view(3, 2, 4)
    items = kmeans.items(torch.tensor([1, 2]))
    assert torch.allclose(slots[0], items, atol=1e-6)  # user 0's two clicks are its two centres
    with pytest.raises(ConfigError, match="model.readout"):
        MTIN(3, 10, readout="max")
    with pytest.raises(ConfigError, match="model.memory_init"):
        MTIN(3, 10, memory_init="pca")


WORLD = ["dataset.synthetic.n_users=300", "dataset.synthetic.n_items=400", "dataset.synthetic.interactions_per_user=15",
         "dataset.synthetic.interests=3", "dataset.synthetic.false_click_rate=0.15", "dataset.synthetic.n_coarse=8",
         "dataset.synthetic.branching=[2,2]", "eval.history_length=20", "trainer.epochs=12"]
SMALL_MTIN = ["model=mtin", "model.variant=extended", "model.embedding_dim=32", "model.hidden=32", "model.n_masks=4"]


@pytest.fixture(scope="module")
def click_world_runs(tmp_path_factory):
    """MTIN, MTIN-I, LSTM and NCF trained on the multi-interest world with planted false clicks (seed 0)."""
    from hydra import compose, initialize_config_dir

    from graphrec.configs import conf_dir
    from graphrec.training.run import run_training

    root = tmp_path_factory.mktemp("click_world")
    runs = {"mtin": SMALL_MTIN, "mtin_i": SMALL_MTIN + ["model.n_groups=1"],
            "lstm": ["model=lstm", "model.embedding_dim=32", "model.hidden=32"], "ncf": ["model=ncf_ctr"]}
    out = {}
    for name, overrides in runs.items():
        with initialize_config_dir(config_dir=conf_dir(), version_base="1.3"):
            cfg = compose("config", overrides=WORLD + overrides + ["trainer.progress=false", "device=cpu",
                                                                   f"data_root={root / 'data'}"])
        out[name] = (run_training(cfg, root / name), root / name)
    return out


def test_mtin_beats_lstm_and_ncf_and_its_one_group_variant_on_multi_interest_users(click_world_runs):
    auc = {name: res["test"]["auc"] for name, (res, _) in click_world_runs.items()}
    print("test AUC", auc)
    assert auc["mtin"] > auc["lstm"] + 0.01 and auc["mtin"] > auc["ncf"] + 0.01, auc
    assert auc["mtin_i"] < auc["mtin"] - 0.01, auc  # every user here has three interests


def test_routing_discount_gives_planted_false_clicks_lower_group_weight(click_world_runs):
    from graphrec.inference import load_run

    exp = load_run(click_world_runs["mtin"][1] / "checkpoints" / "best.pt")
    imp, n_items = exp.dataset.impressions, exp.dataset.n_items
    fake = imp["planted_false_click"] == 1
    planted = np.unique(imp["user"][fake] * n_items + imp["item"][fake])
    weights, kept = {True: [], False: []}, {True: [], False: []}
    for batch in exp.task.records.batches("test", 2048):
        detail = exp.model.explain(batch)["pos"]
        assigned = (detail["assign"] >= 0).numpy()
        raw = detail["scores"].gather(-1, detail["assign"].clamp_min(0)[..., None]).squeeze(-1).numpy()
        valid = (torch.arange(batch["pos_items"].shape[1])[None] < batch["pos_lengths"][:, None]).numpy()
        is_fake = np.isin((batch["user"][:, None] * n_items + batch["pos_items"]).numpy(), planted)
        for flag in (True, False):
            rows = valid & (is_fake == flag)
            weights[flag].append(detail["weight"].numpy()[rows])
            kept[flag].append((detail["weight"].numpy() / raw)[rows & assigned])  # 1 / ξ of the item's group
    fake_mean, true_mean = (float(np.concatenate(weights[f]).mean()) for f in (True, False))
    fake_kept, true_kept = (float(np.concatenate(kept[f]).mean()) for f in (True, False))
    print(f"mean group weight: planted false clicks {fake_mean:.4f}, true clicks {true_mean:.4f}; "
          f"share of the score the discount keeps: {fake_kept:.4f} vs {true_kept:.4f}")
    assert sum(len(w) for w in weights[True]) > 100
    assert fake_mean < true_mean - 0.02, (fake_mean, true_mean)
    assert fake_kept < true_kept - 0.005, (fake_kept, true_kept)  # the discount itself bites harder on them


def test_viz_groups_draws_attention_rows_and_refuses_other_models(click_world_runs, tmp_path):
    from graphrec.errors import ConfigError
    from graphrec.inference import load_run
    from graphrec.viz.groups import default_users, group_attention, plot_groups

    exp = load_run(click_world_runs["mtin"][1] / "checkpoints" / "best.pt")
    users = default_users(exp, 2)
    attention, times = group_attention(exp, users[0])
    assert attention.shape == (20, 4) and (np.diff(times) >= 0).all()
    sums = attention.sum(1)
    assert np.allclose(sums[sums > 0], 1.0, atol=1e-5) and sums[-1] > 0  # a late impression has a history
    out = plot_groups(exp, users, tmp_path / "groups.png")
    assert out.stat().st_size > 10_000
    with pytest.raises(ConfigError, match="no interest groups"):
        plot_groups(load_run(click_world_runs["lstm"][1] / "checkpoints" / "best.pt"), None, tmp_path / "x.png")
    with pytest.raises(ConfigError, match="not a user id"):
        group_attention(exp, 10_000)
