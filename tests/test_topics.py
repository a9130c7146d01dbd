"""MTL's topic pipeline: weighted walks, skip-gram, torch k-means, τ₃ assignment, MMoE gates, the synthetic
representation study, topic queues, the rankers with topic ids, and the three CLI stages end to end."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import torch
from hydra import compose, initialize_config_dir

from graphrec.configs import conf_dir
from graphrec.evaluation.clustering import nmi
from graphrec.graphs.sparse import SparseGraph
from graphrec.graphs.tag_cooccurrence import tag_cooccurrence_graph
from graphrec.graphs.walks import weighted_random_walks
from graphrec.topics.kmeans import kmeans, topics_within
from graphrec.topics.mmoe import MMoE
from graphrec.topics.skipgram import skipgram


def small_weighted_graph() -> SparseGraph:
    row = torch.tensor([0, 0, 0, 1, 1, 2, 3])
    col = torch.tensor([1, 2, 3, 2, 3, 3, 4])
    w = torch.tensor([1.0, 3.0, 6.0, 2.0, 0.5, 4.0, 1.5])
    return SparseGraph.from_coo(torch.cat([row, col]), torch.cat([col, row]), torch.cat([w, w]), (5, 5),
                                symmetric=True)


def test_tag_graph_values_are_eq3_edge_probabilities():
    item = torch.tensor([0, 0, 0, 1, 1, 2, 2, 3])
    tag = torch.tensor([0, 1, 2, 0, 1, 1, 2, 3])  # pairs (0,1): 2 videos, (0,2): 1, (1,2): 2; tag 3 alone
    g = tag_cooccurrence_graph(item, tag, 4, 4).to_dense()
    expected = torch.zeros(4, 4)
    for (s, t), x in {(0, 1): 2, (0, 2): 1, (1, 2): 2}.items():
        expected[s, t] = expected[t, s] = x / 5.0
    assert torch.allclose(g, expected)


def test_walk_transitions_match_edge_probabilities_chi_square():
    from scipy.stats import chisquare

    graph = small_weighted_graph()
    dense = graph.to_dense()
    starts = torch.arange(5).repeat(6000)
    walks = weighted_random_walks(graph, starts, 6, torch.Generator().manual_seed(0))
    src, dst = walks[:, :-1].reshape(-1), walks[:, 1:].reshape(-1)
    for node in range(5):
        out = dst[src == node]
        nbrs = torch.nonzero(dense[node]).squeeze(1)
        observed = torch.stack([(out == n).sum() for n in nbrs]).numpy()
        assert observed.sum() == out.numel() > 1000  # every step from a node goes to a neighbour
        weights = dense[node, nbrs].double().numpy()
        expected = weights / weights.sum() * observed.sum()
        if nbrs.numel() == 1:  # node 4: one neighbour, every step goes there
            continue
        assert chisquare(observed, expected).pvalue > 1e-3, (node, observed, expected)
        if nbrs.numel() > 1:  # a uniform sampler would be rejected
            assert chisquare(observed, np.full(nbrs.numel(), observed.sum() / nbrs.numel())).pvalue < 1e-6


def test_walk_stops_at_a_node_without_edges():
    graph = SparseGraph.from_coo(torch.tensor([0, 1]), torch.tensor([1, 0]), None, (3, 3), symmetric=True)
    walks = weighted_random_walks(graph, torch.tensor([2, 0]), 4)
    assert walks[0].tolist() == [2, -1, -1, -1] and walks[1].tolist() == [0, 1, 0, 1]


def test_skipgram_separates_planted_tag_clusters():
    rng = np.random.default_rng(0)
    clusters = np.repeat(np.arange(3), 8)  # 24 tags, 3 planted clusters
    rows, cols, vals = [], [], []
    for s in range(24):
        for t in range(s + 1, 24):
            same = clusters[s] == clusters[t]
            if same or rng.random() < 0.05:
                rows.append(s), cols.append(t), vals.append(5.0 if same else 1.0)
    r, c, v = torch.tensor(rows), torch.tensor(cols), torch.tensor(vals)
    graph = SparseGraph.from_coo(torch.cat([r, c]), torch.cat([c, r]), torch.cat([v, v]), (24, 24), True)
    walks = weighted_random_walks(graph, torch.arange(24).repeat(20), 40, torch.Generator().manual_seed(1))
    emb = torch.nn.functional.normalize(skipgram(walks, 24, dim=16, window=3, epochs=3, walks_per_batch=8), dim=1)
    cos = emb @ emb.T
    same = torch.from_numpy(clusters[:, None] == clusters[None, :]) & ~torch.eye(24, dtype=torch.bool)
    diff = torch.from_numpy(clusters[:, None] != clusters[None, :])
    assert cos[same].mean() > cos[diff].mean() + 0.3
    assert nmi(kmeans(emb, 3, n_init=5).labels.numpy(), clusters) > 0.9


def blobs(seed: int = 0, n: int = 1500, k: int = 8, d: int = 6) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 3, (k, d))
    return (centres[rng.integers(0, k, n)] + rng.normal(0, 1.0, (n, d))).astype(np.float32)


def test_torch_kmeans_inertia_within_one_percent_of_scipy_kmeans2():
    from scipy.cluster.vq import kmeans2

    x = blobs()
    best = np.inf
    for seed in range(10):
        centres, labels = kmeans2(x.astype(np.float64), 8, minit="++", seed=seed)
        best = min(best, float(((x - centres[labels]) ** 2).sum()))
    ours = kmeans(torch.from_numpy(x), 8, n_init=5, seed=0, block_size=256)
    recomputed = float(((torch.from_numpy(x) - ours.centres[ours.labels]) ** 2).sum())
    assert ours.inertia == pytest.approx(recomputed, rel=1e-4)
    print(f"torch k-means inertia {ours.inertia:.2f}, scipy kmeans2 best of 10 {best:.2f}")
    assert ours.inertia <= best * 1.01, (ours.inertia, best)


def test_kmeans_is_seeded_and_rejects_bad_k():
    from graphrec.errors import ConfigError

    x = torch.from_numpy(blobs(1, n=300))
    a, b = kmeans(x, 5, seed=3), kmeans(x, 5, seed=3)
    assert torch.equal(a.labels, b.labels)
    with pytest.raises(ConfigError, match="K = 400"):
        kmeans(x, 400)


def test_tau3_assigns_every_topic_within_the_cosine_distance_and_always_the_nearest():
    centres = torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]])
    angle = torch.tensor([0.0, np.pi / 4, np.pi * 0.55, np.pi])
    x = torch.stack([torch.cos(angle), torch.sin(angle)], 1) * 3.0  # lengths do not matter: cosine
    item, topic = topics_within(x, centres, tau=0.4)
    got = sorted(zip(item.tolist(), topic.tolist()))
    # cos distances: item 0 -> (0, 1, 2); item 1 -> (0.29, 0.29, 1.71); item 2 -> (1.16, 0.01, 0.84); item 3 -> (2, 1, 0)
    assert got == [(0, 0), (1, 0), (1, 1), (2, 1), (3, 2)]
    item, topic = topics_within(x, centres, tau=0.0)  # nothing within 0: the nearest only
    assert item.tolist() == [0, 1, 2, 3] and topic[[0, 2, 3]].tolist() == [0, 1, 2]


def test_mmoe_gates_are_per_task():
    torch.manual_seed(0)
    model = MMoE({"text": 10, "image": 6}, [4, 5, 7], experts=6).eval()
    inputs = {"text": torch.randn(9, 10), "image": torch.randn(9, 6)}
    before = model(inputs)
    gates = model.gate_weights(model.representation(inputs))
    assert gates.shape == (3, 9, 6) and torch.allclose(gates.sum(-1), torch.ones(3, 9))
    with torch.no_grad():
        model.gates[1].weight.add_(torch.randn_like(model.gates[1].weight))
    after = model(inputs)
    assert torch.equal(before[0], after[0]) and torch.equal(before[2], after[2])  # other tasks' gates untouched
    assert not torch.allclose(before[1], after[1])


def topics_cfg(tmp_path, *overrides):
    with initialize_config_dir(config_dir=conf_dir(), version_base="1.3"):
        return compose("topics", overrides=[f"data_root={tmp_path / 'data'}", "device=cpu", *overrides])


NOISY_WORLD = ["+dataset.synthetic.noise={visual:2.0,textual:2.0,acoustic:1.0}", "dataset.synthetic.n_users=300",
               "kmeans.k=8"]


def test_topic_representation_recovers_secondary_classes_at_least_as_well_as_every_input(tmp_path):
    from graphrec.topics import fit_topics
    from graphrec.topics.assign import load_npz
    from graphrec.topics.study import table_one

    run = tmp_path / "fit"
    run.mkdir()
    result = fit_topics(topics_cfg(tmp_path, *NOISY_WORLD), run)
    rows = {r["representation"]: r for r in table_one(load_npz(run / "representations.npz"), 0)}
    print({k: round(v["sc_nmi"], 4) for k, v in rows.items()})
    joint = rows["[z ‖ tag vector], untagged ē = 0"]["sc_nmi"]
    for single in ("textual only", "visual only", "DeepWalk tag vector (tagged videos only)"):
        assert joint >= rows[single]["sc_nmi"] - 1e-9, (single, rows[single]["sc_nmi"], joint)
    assert rows["MMoE z"]["sc_nmi"] > rows["inputs concatenated"]["sc_nmi"]  # the multi-task training helps
    assert result["items"]["heldout"] == 150 and rows["MMoE z"]["sc_items"] == 150


def test_queues_filter_by_exposure_and_ctr_keep_fresh_items_and_rank_by_ctr():
    from graphrec.topics.queues import _round_robin, topic_queues

    exposure = np.array([20, 20, 20, 20, 3, 2, 30])
    clicks = np.array([10, 2, 1, 6, 1, 0, 3])  # CTR .5, .1, .05, .3, fresh, fresh, .1
    topic_item = np.array([0, 1, 2, 3, 4, 5, 6, 0, 3])
    topic = np.array([0, 0, 0, 0, 0, 0, 0, 1, 1])
    rng = np.random.default_rng(0)
    q = topic_queues(topic_item, topic, exposure, clicks, tau1=10, tau2=0.07, fresh_share=0.2, rng=rng)
    good = [i for i in q[0] if i not in (4, 5)]
    assert good == [0, 3, 6, 1]  # item 2 is under τ2; ties at CTR .1 broken by clicks (item 6 has 3)
    assert sum(i in (4, 5) for i in q[0]) == 1  # 20% fresh: one of 5
    assert q[1].tolist() == [0, 3]
    seen = np.zeros(7, bool)
    seen[0] = True
    assert _round_robin([np.array([0, 3, 6]), np.array([5, 6, 1])], seen, 4).tolist() == [5, 3, 6, 1]


def test_item_field_padding_and_the_wide_cross_match_a_loop_reference():
    from graphrec.models.ctr.field_ctr import WideDeep, padded_values

    item = torch.tensor([0, 0, 2, 1, 2, 2])
    value = torch.tensor([1, 0, 2, 2, 0, 1])
    pad = padded_values(item, value, 4, 3, cap=8)
    assert pad.tolist() == [[0, 1, 3], [2, 3, 3], [0, 1, 2], [3, 3, 3], [3, 3, 3]]
    torch.manual_seed(0)
    model = WideDeep(3, 4, item_fields=["topic"], item_field_data={"topic": (item, value, 3)}, embedding_dim=4)
    with torch.no_grad():
        model.crosses["topic"].normal_()
    batch = {"user": torch.tensor([0, 1]), "item": torch.tensor([2, 0]),
             "pos_items": torch.tensor([[0, 1, 4], [2, 4, 4]]), "pos_lengths": torch.tensor([2, 1]),
             "pos_times": torch.zeros(2, 3, dtype=torch.long)}
    got = model._cross("topic", batch)
    w = model.crosses["topic"]
    values = {0: [0, 1], 1: [2], 2: [0, 1, 2], 3: []}
    for b, (cand, hist) in enumerate([(2, [0, 1]), (0, [2])]):
        ref = np.mean([np.mean([np.mean([float(w[s, t].detach()) for s in values[h]]) for h in hist])
                       for t in values[cand]])
        assert float(got[b]) == pytest.approx(ref, rel=1e-5)


def _run(*args, cwd):
    return subprocess.run([sys.executable, "-m", "graphrec.cli", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=600)


def test_topics_fit_assign_report_and_a_ranker_with_topic_ids_end_to_end(tmp_path):
    data = f"data_root={tmp_path / 'data'}"
    world = ["dataset.synthetic.n_users=200", "dataset.synthetic.n_items=300", "kmeans.k=6", "mmoe.epochs=5",
             "deepwalk.walks_per_node=3", "device=cpu", data]
    out = _run("topics", "fit", *world, "hydra.run.dir=fit", cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-2000:]
    fit = json.loads((tmp_path / "fit" / "results.json").read_text())
    assert fit["stage"] == "fit" and fit["kmeans"]["k"] == 6 and (tmp_path / "fit" / "centres.npz").is_file()
    out = _run("topics", "assign", *world, "fit_dir=fit", "tau3=0.5", "dataset_name=world-topics",
               "hydra.run.dir=assign", cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-2000:]
    assign = json.loads((tmp_path / "assign" / "results.json").read_text())
    assert assign["topics_per_item"]["mean"] >= 1.0
    train = _run("train", "model=emlp", "dataset=prepared", "dataset.name=world-topics", "model.item_fields=[topic]",
                 "trainer.epochs=1", "eval.history_length=5", "device=cpu", data, "hydra.run.dir=ranker",
                 cwd=tmp_path)
    assert train.returncode == 0, train.stderr[-2000:]
    out = _run("topics", "report", *world, "fit_dir=fit", "assign_dir=assign", "rankers=[ranker]",
               "hydra.run.dir=report", cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-2000:]
    tables = json.loads((tmp_path / "report" / "tables.json").read_text())
    assert {r["queue"] for r in tables["queues"]} == {"topic", "popularity", "random"}
    assert tables["rankers"][0]["item_fields"] == "topic"
    names = [r["representation"] for r in tables["representations"]]
    assert names[-3:] == ["DeepWalk tag vector (tagged videos only)", "[z ‖ tag vector], untagged ē = 0",
                          "[z ‖ tag vector], untagged ē from the tag tower"] and len(names) == 7
    assert (tmp_path / "report" / "figures" / "topics.png").stat().st_size > 10_000
    bad = _run("topics", "report", *world, "fit_dir=assign", "hydra.run.dir=bad", cwd=tmp_path)
    assert bad.returncode == 2 and "is a `topics assign` run" in bad.stderr and len(bad.stderr.splitlines()) == 1
    assert not (tmp_path / "bad").exists()
    # values and declared inputs are checked before any work: one line, no run dir
    for stage, args, needle in (
            ("assign", ["fit_dir=fit", "tau3=abc"], "tau3: expected a number, got 'abc'"),
            ("assign", ["fit_dir=fit", "dataset_name=world-topics"], "already exists (pass overwrite=true"),
            ("report", ["fit_dir=fit", "rankers=[/nope]"], "rankers: '/nope' matches no finished"),
            ("report", ["fit_dir=fit", "queues.n3=0"], "queues.n3: must be at least 1")):
        bad = _run("topics", stage, *world, *args, "hydra.run.dir=bad", cwd=tmp_path)
        assert bad.returncode == 2 and needle in bad.stderr and len(bad.stderr.splitlines()) == 1, bad.stderr
        assert not (tmp_path / "bad").exists()


def test_tau3_auto_gives_the_asked_mean_number_of_topics():
    from graphrec.topics.kmeans import tau_for_mean_count

    x = torch.from_numpy(blobs(2, n=800))
    centres = kmeans(x, 8, seed=0).centres
    for count in (2.0, 4.0):
        item, _ = topics_within(x, centres, tau_for_mean_count(x, centres, count))
        assert abs(item.numel() / 800 - count) < 0.1 * count


KUAIREC_FIXTURE = (
    "video_id,manual_cover_text,caption,topic_tag,first_level_category_id,first_level_category_name,"
    "second_level_category_id,second_level_category_name,third_level_category_id,third_level_category_name\n"
    "7,UNKNOWN,精神小伙,[],8,颜值,673,颜值随拍,-124,UNKNOWN\n"
    "3,封面,一段王朝\n！”,\"[搞笑,五爱市场]\",9,喜剧,-124,UNKNOWN,-124,UNKNOWN\n"  # an unquoted line break
    "5,UNKNOWN,,[搞笑],8,颜值,674,街拍,1231,萌宝\n")


def test_kuairec_captions_importer_joins_broken_rows_and_reads_unquoted_tag_lists(tmp_path):
    from graphrec.data.formats.kuairec_captions import load
    from graphrec.errors import DataError

    (tmp_path / "kuairec_caption_category.csv").write_text(KUAIREC_FIXTURE, encoding="utf-8")
    ds = load(tmp_path, "k")
    assert ds.n_items == 3 and ds.n_interactions == 0 and ds.source["content_only"]
    assert ds.raw["item_id"].tolist() == ["3", "5", "7"]
    assert ds.extras["caption"][0] == "一段王朝\n！”" and ds.extras["cover_text"].tolist() == ["封面", "", ""]
    tags = [(int(i), str(ds.extras["tag_names"][t])) for i, t in zip(ds.tags["item"], ds.tags["tag"])]
    assert sorted(tags) == [(0, "五爱市场"), (0, "搞笑"), (1, "搞笑")]
    assert ds.categories["primary"].tolist() == [1, 0, 0]  # ids "8" < "9"
    assert ds.categories["secondary"].tolist() == [-1, 1, 0] and ds.categories["tertiary"].tolist() == [-1, 0, -1]
    (tmp_path / "kuairec_caption_category.csv").write_text(KUAIREC_FIXTURE + "9,x,y\n", encoding="utf-8")
    with pytest.raises(DataError, match="line 6 has 3 fields"):
        load(tmp_path, "k")


def test_kuairec_captions_real_file(tmp_path):
    from tests.conftest import shared_dataset
    from graphrec.data.formats.kuairec_captions import load

    ds = load(shared_dataset("kuairec-captions"), "k")
    assert ds.n_items == 10_728 and np.unique(ds.tags["item"]).size > 6_000
    assert [int(ds.categories[c].max()) + 1 for c in ("primary", "secondary", "tertiary")] == [38, 137, 219]


def test_movielens_genre_classes_are_nested_by_catalogue_frequency():
    from graphrec.data.formats.movielens import genre_classes

    names = np.array(["Action", "Comedy", "Drama"])
    hot = np.array([[1, 0, 1], [0, 1, 1], [0, 0, 1], [1, 1, 0], [0, 0, 0], [1, 0, 1]], np.int8)
    primary, secondary, pnames, snames = genre_classes(hot, names)  # frequency: Drama 4, Action 3, Comedy 2
    assert pnames.tolist() == ["Drama", "Action"] and primary.tolist() == [0, 0, 0, 1, -1, 0]
    assert [snames[s] if s >= 0 else None for s in secondary] == [
        "Drama/Action", "Drama/Comedy", "Drama", "Action/Comedy", None, "Drama/Action"]


def test_tags_before_valid_drop_what_a_user_attached_after_their_first_held_out_impression():
    from omegaconf import OmegaConf

    from graphrec.data.dataset import Dataset
    from graphrec.topics.inputs import usable_tags

    imp = {"user": np.array([0] * 10 + [1] * 10), "item": np.arange(20) % 5,
           "timestamp": np.concatenate([np.arange(10), np.arange(10) + 100]), "click": np.ones(20, np.int8)}
    ds = Dataset("t", 3, 5, imp["user"], imp["item"], impressions=imp,
                 tags={"item": np.array([0, 1, 2, 3, 4]), "tag": np.array([0, 1, 2, 3, 0]),
                       "user": np.array([0, 0, 1, 1, -1]), "timestamp": np.array([7, 8, 50, 150, 999])})
    ecfg = OmegaConf.create({"split": "temporal", "ratios": [0.8, 0.1, 0.1], "valid_days": 1, "test_days": 1,
                             "time_unit_s": 1.0})
    item, tag, n_tags, rule = usable_tags(ds, "auto", ecfg)
    # user 0's held-out part starts at time 8, user 1's at 108; a tag by a user without ratings stays
    assert rule == "before_valid" and item.tolist() == [0, 2, 4] and n_tags == 4
    assert usable_tags(ds, "all", ecfg)[0].tolist() == [0, 1, 2, 3, 4]


def test_item_fields_and_a_content_only_dataset_in_train(tmp_path, make_cfg):
    from graphrec.data.dataset import Dataset
    from graphrec.data.storage import save_dataset
    from graphrec.errors import DataError
    from graphrec.experiment import build_experiment

    ds = Dataset("content", 0, 3, np.zeros(0, np.int64), np.zeros(0, np.int64),
                 categories={"primary": np.array([1, -1, 0])},
                 item_sets={"topic.item": np.array([0, 0, 2]), "topic.value": np.array([4, 1, 2])},
                 source={"content_only": True})
    assert ds.item_field("primary")[0].tolist() == [0, 2] and ds.item_field("topic")[2] == 5
    with pytest.raises(DataError, match="no item field 'genre'"):
        ds.item_field("genre")
    save_dataset(ds, tmp_path / "data")
    with pytest.raises(DataError, match="item content only"):
        build_experiment(make_cfg("dataset=prepared", "dataset.name=content", small=False))


def test_topics_cli_bad_override_and_help_are_one_line_answers(tmp_path):
    bad = _run("topics", "fit", "mmoe.nope=3", cwd=tmp_path)
    assert bad.returncode == 2 and "mmoe.nope" in bad.stderr and len(bad.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "outputs").exists()
    for override, needle in (("kmeans.k=abc", "kmeans.k: expected an integer, got 'abc'"),
                             ("mmoe.lr=0", "mmoe.lr: must be greater than 0"),
                             ("untagged=maybe", "untagged: expected one of predicted, zero")):
        bad = _run("topics", "fit", override, cwd=tmp_path)  # at once, not after the MMoE has trained
        assert bad.returncode == 2 and needle in bad.stderr and len(bad.stderr.strip().splitlines()) == 1, bad.stderr
        assert not (tmp_path / "outputs").exists()
    assert _run("topics", "--help", cwd=tmp_path).stdout.startswith("usage: graphrec topics fit|assign|report")
    assert _run("topics", cwd=tmp_path).returncode == 2


def test_ranker_table_keeps_runs_of_different_configurations_apart(tmp_path):
    from omegaconf import OmegaConf

    from graphrec.topics.report import ranker_table

    def run(name, auc, seed, dataset="a", fields=(), use_features=False):
        d = tmp_path / name
        (d / ".hydra").mkdir(parents=True)
        (d / "results.json").write_text(json.dumps({"model": "dcn", "test": {"auc": auc}}))
        OmegaConf.save({"seed": seed, "dataset": {"name": dataset}, "eval": {"split": "day"},
                        "model": {"name": "dcn", "item_fields": list(fields), "use_features": use_features}},
                       d / ".hydra" / "config.yaml")

    run("s0", 0.70, 0)
    run("s1", 0.72, 1)  # the same configuration, another seed: averaged
    run("topic", 0.80, 0, fields=["topic"])
    run("other-data", 0.60, 0, dataset="b")
    run("features", 0.90, 0, use_features=True)
    rows = {(r["item_fields"], r["settings"]): r for r in ranker_table([str(tmp_path / "*")])}
    assert len(rows) == 4
    base = rows[("none", 'dataset.name="a" model.use_features=false')]
    assert base["runs"] == 2 and base["test_auc"] == pytest.approx(0.71)
    assert rows[("none", 'dataset.name="b" model.use_features=false')]["test_auc"] == 0.60
    assert rows[("none", 'dataset.name="a" model.use_features=true')]["test_auc"] == 0.90
    assert rows[("topic", 'dataset.name="a" model.use_features=false')]["runs"] == 1


def test_table_one_scores_the_tag_vector_on_tagged_videos_and_the_fill_separately():
    from graphrec.topics.study import table_one

    rng = np.random.default_rng(0)
    n = 120
    primary = np.repeat(np.arange(4), n // 4)
    centres = rng.normal(size=(4, 6)) * 3
    tagged = np.arange(n) % 2 == 0
    tag_vector = centres[primary] + rng.normal(size=(n, 6)) * 0.1
    filled = tag_vector.copy()
    filled[~tagged] = rng.normal(size=(int((~tagged).sum()), 6))  # a fill that knows nothing
    reps = {"z": rng.normal(size=(n, 5)), "tag_vector": filled, "topic_vector": np.zeros((n, 11)),
            "has_tags": tagged, "heldout": np.ones(n, bool), "primary": primary, "secondary": primary,
            "input_text": rng.normal(size=(n, 3))}
    rows = {r["representation"]: r for r in table_one(reps, 0)}
    tag_row = rows["DeepWalk tag vector (tagged videos only)"]
    assert tag_row["pc_items"] == int(tagged.sum()) and tag_row["pc_ari"] > 0.95  # only the videos with tags
    assert rows["[z ‖ tag vector], untagged ē = 0"]["pc_items"] == n
    assert "[z ‖ tag vector], untagged ē from the tag tower" in rows  # the fit filled: both rows
    reps["tag_vector"] = np.where(tagged[:, None], tag_vector, 0.0)  # a fit with untagged: zero
    assert "[z ‖ tag vector], untagged ē from the tag tower" not in {r["representation"] for r in table_one(reps, 0)}
