"""The leave-one-out protocol (eval=iris) and its models: FISM, NAIS, GMF/NeuMF, VBPR-log and Multimodal IRIS.

Each model's score is checked against a plain per-(user, item) reference written from the paper's equation,
with the target removed from its own history; the FM against its O(n²) definition.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from graphrec.data.dataset import Dataset
from graphrec.data.splits import make_split
from graphrec.errors import ConfigError
from graphrec.models.registry import models_under
from graphrec.graphs.bipartite import bipartite_graph
from graphrec.models.item_based.fism import FISM
from graphrec.models.layers.fm import fm_pairwise
from graphrec.models.layers.history import UserHistory, smoothed_softmax
from graphrec.models.item_based.iris import IRIS
from graphrec.models.item_based.nais import NAIS
from graphrec.models.ranking.ncf import NeuMF

# a small interaction world: user -> training items
TRAIN = {0: [0, 2, 5], 1: [1], 2: [3, 4, 6, 7, 2], 3: [0, 1, 2, 3, 4, 5, 6, 7, 8]}
N_USERS, N_ITEMS = 4, 10


def attach(model):
    users = torch.tensor([u for u, items in TRAIN.items() for _ in items])
    items = torch.tensor([i for its in TRAIN.values() for i in its])
    model.attach_graphs({"interactions": bipartite_graph(users, items, N_USERS, N_ITEMS, norm="none")})
    for p in model.parameters():  # non-trivial values everywhere, biases included
        torch.nn.init.normal_(p, std=0.5)
    return model


def all_pairs():
    users = torch.arange(N_USERS).repeat_interleave(N_ITEMS)
    items = torch.arange(N_ITEMS).repeat(N_USERS)
    return users, items


# ---------------------------------------------------------------------------------------------------- split


def test_iris_split_one_valid_one_test_per_user_none_in_train(make_cfg):
    from graphrec.experiment import build_experiment

    exp = build_experiment(make_cfg("model=fism", "eval=iris"))
    ds, split = exp.dataset, exp.task.split
    counts = np.bincount(ds.user, minlength=ds.n_users)
    for part in ("valid", "test"):
        per_user = np.bincount(ds.user[split.part(part)], minlength=ds.n_users)
        assert np.array_equal(per_user, (counts >= 3).astype(int))
    train_pairs = set(zip(ds.user[split.train].tolist(), ds.item[split.train].tolist()))
    for part in ("valid", "test"):
        held = set(zip(ds.user[split.part(part)].tolist(), ds.item[split.part(part)].tolist()))
        assert not held & train_pairs
    assert exp.cfg.eval.metrics == ["hit@5", "ndcg@5", "hit@10", "ndcg@10", "mrr@10", "hit@20", "ndcg@20"]


def test_iris_split_users_with_fewer_than_three_stay_in_training_and_are_counted():
    # user 0: 5 interactions, user 1: 2, user 2: 1, user 3: none
    user = np.array([0, 0, 0, 0, 0, 1, 1, 2])
    item = np.array([0, 1, 2, 3, 4, 0, 1, 2])
    ds = Dataset(name="tiny", n_users=4, n_items=5, user=user, item=item)
    split = make_split(ds, "loo", [0.8, 0.1, 0.1], seed=0)
    assert split.counts() == {"train": 6, "valid": 1, "test": 1}
    assert set(ds.user[split.train]) == {0, 1, 2}
    assert split.train_only_users == 3


def test_iris_negatives_fixed_distinct_and_outside_every_split(make_cfg):
    from graphrec.experiment import build_experiment

    first = build_experiment(make_cfg("model=fism", "eval=iris"))
    second = build_experiment(make_cfg("model=fism", "eval=iris"))
    ds = first.dataset
    known = set(zip(ds.user.tolist(), ds.item.tolist()))
    for part in ("valid", "test"):
        neg = first.task.sampled_negatives(part)
        assert neg.shape[1] == 99 and all(len(set(r)) == 99 for r in neg.tolist())
        users = first.task.parts[part][0].tolist()
        assert not any((u, i) in known for u, r in zip(users, neg.tolist()) for i in r)
        assert torch.equal(neg, second.task.sampled_negatives(part))  # two runs of one seed
        assert first.task.sampled_negatives(part) is neg  # drawn once, the same tensor every epoch


# ---------------------------------------------------------------------------------------------------- history


def test_history_rows_mark_the_target_and_chunks_cover_every_row():
    model = attach(FISM(N_USERS, N_ITEMS, embedding_dim=4))
    hist = model.history.rows(torch.tensor([2, 1]), torch.tensor([[3, 9], [1, 0]]))
    assert hist.item.tolist() == [2, 3, 4, 6, 7, 1]  # each user's items, sorted
    assert hist.row.tolist() == [0, 0, 0, 0, 0, 1]
    assert hist.keep.tolist() == [[True, True], [False, True], [True, True], [True, True], [True, True],
                                  [False, True]]
    assert hist.lengths().tolist() == [[4, 5], [0, 1]]
    users = torch.tensor([3, 0, 2, 1, 3, 2])
    chunks = list(model.history.row_chunks(users, max_elements=10))
    assert [s.start for s in chunks][0] == 0 and chunks[-1].stop == users.numel()
    assert all(a.stop == b.start for a, b in zip(chunks, chunks[1:]))
    degree = model.history.degree[users]
    assert all(int(degree[s].sum()) <= 10 or s.stop - s.start == 1 for s in chunks)


def test_smoothed_softmax_matches_its_definition_and_ignores_masked():
    logits = torch.tensor([0.5, -1.0, 2.0, -torch.inf, 3.0, 1.0])
    row = torch.tensor([0, 0, 0, 0, 1, 1])
    w = smoothed_softmax(logits, row, 3, beta=0.5)
    first = torch.tensor([0.5, -1.0, 2.0]).exp()
    assert torch.allclose(w[:3], first / first.sum() ** 0.5)
    assert w[3] == 0
    second = torch.tensor([3.0, 1.0]).exp()
    assert torch.allclose(w[4:], second / second.sum() ** 0.5)


# ---------------------------------------------------------------------------------------------------- references


def fism_reference(model: FISM, u: int, i: int) -> float:
    hist = [j for j in TRAIN[u] if j != i]
    sim = sum(float(model.P[j] @ model.Q[i]) for j in hist)
    norm = max(len(hist), 1) ** -model.alpha
    return sim * norm + float(model.user_bias[u] + model.item_bias[i])


def test_fism_matches_dense_reference_with_target_removed():
    model = attach(FISM(N_USERS, N_ITEMS, embedding_dim=4, alpha=0.5))
    users, items = all_pairs()
    got = model.score(users, items)
    want = torch.tensor([fism_reference(model, int(u), int(i)) for u, i in zip(users, items)])
    assert torch.allclose(got, want, atol=1e-5)
    # a training positive's score does not use its own embedding p_i: changing P[i] leaves (u, i) unchanged
    before = model.score(torch.tensor([0]), torch.tensor([2]))
    with torch.no_grad():
        model.P[2] += 10.0
    assert torch.allclose(model.score(torch.tensor([0]), torch.tensor([2])), before)


def nais_reference(model: NAIS, u: int, i: int) -> float:
    hist = [j for j in TRAIN[u] if j != i]
    if not hist:
        return float(model.item_bias[i])
    att = model.attention
    p, q = model.P[hist], model.Q[i]
    if att.kind == "prod":
        a = torch.relu(att.W(p * q)) @ att.h
    else:
        a = torch.relu(att.W(torch.cat([p, q.expand_as(p)], 1))) @ att.h
    w = a.exp() / a.exp().sum() ** att.beta
    return float((w * (p @ q)).sum() + model.item_bias[i])


@pytest.mark.parametrize("kind", ["prod", "concat"])
def test_nais_matches_dense_reference(kind):
    model = attach(NAIS(N_USERS, N_ITEMS, embedding_dim=4, attention_size=3, attention=kind, beta=0.5))
    users, items = all_pairs()
    with torch.no_grad():
        got = model.score(users, items)
        want = torch.tensor([nais_reference(model, int(u), int(i)) for u, i in zip(users, items)])
    assert torch.allclose(got, want, atol=1e-5)
    # the [B, M] candidate layout and the all-items layout agree with the per-row scores
    with torch.no_grad():
        assert torch.allclose(model.score(torch.arange(N_USERS)), got.view(N_USERS, N_ITEMS), atol=1e-5)
        model.max_elements = 3  # many chunks
        assert torch.allclose(model.score(torch.arange(N_USERS), torch.arange(N_ITEMS).expand(N_USERS, -1)),
                              got.view(N_USERS, N_ITEMS), atol=1e-5)


def test_fm_pairwise_matches_its_quadratic_definition():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(3, 7, generator=g)  # feature values of 3 samples
    v = torch.randn(7, 4, generator=g)  # factors
    quadratic = torch.zeros(3)
    for s in range(3):
        for a in range(7):
            for b in range(a + 1, 7):
                quadratic[s] += (v[a] @ v[b]) * x[s, a] * x[s, b]
    assert torch.allclose(fm_pairwise(x.unsqueeze(-1) * v), quadratic, atol=1e-5)


def iris_model(**kw) -> IRIS:
    g = torch.Generator().manual_seed(1)
    genre = (torch.rand(N_ITEMS, 5, generator=g) > 0.5).float()
    genre[0] = 0  # an item without any genre
    text = torch.randn(N_ITEMS, 6, generator=g)
    kw = {"probability_modalities": ["genre"], **kw}  # as the MovieLens importer declares it
    model = attach(IRIS(N_USERS, N_ITEMS, {"genre": genre, "textual": text}, embedding_dim=4, latent_dim=3,
                        decoder_hidden=5, attention_size=3, **kw))
    with torch.no_grad():  # away from the small initialisation, so every term of the score matters
        for name, param in model.named_parameters():
            if name in ("content.weight", "content_linear.weight") or name.startswith("filter_"):
                param.normal_(generator=g)
    return model


def test_iris_keeps_declared_probability_modalities_whole_and_never_guesses_them(make_cfg):
    model = iris_model()
    assert model.filtered == ["genre"]
    dist = model.filtered_genre
    has = model.feature("genre").sum(1) > 0
    assert torch.allclose(dist[has].sum(1), torch.ones(int(has.sum())))
    assert torch.equal(dist > 0, model.feature("genre") > 0)  # every genre kept, not only the argmax
    with pytest.raises(ConfigError, match="probability_modalities"):
        IRIS(N_USERS, N_ITEMS, {"genre": model.feature("genre")}, probability_modalities=["visual"])
    # min-max-scaled image features lie in [0, 1] too: without a declaration they are not class probabilities
    visual = torch.rand(N_ITEMS, 4)
    assert IRIS(N_USERS, N_ITEMS, {"visual": visual, "genre": model.feature("genre")}).filtered == []
    # through the experiment the dataset's declaration is used (the synthetic world declares none)
    from graphrec.experiment import build_experiment, instantiate_model

    exp = build_experiment(make_cfg("model=iris", "eval=iris"))
    assert exp.model.filtered == []
    exp.dataset.probability_modalities = ["visual"]

    feats = {m: torch.from_numpy(f) for m, f in exp.dataset.features.items()}
    assert instantiate_model(exp.cfg.model, exp.dataset.n_users, exp.dataset.n_items, feats,
                             exp.dataset).filtered == ["visual"]


def test_movielens_declares_its_genre_vector_a_probability_modality(tmp_path):
    from graphrec.data.formats.movielens import load
    from graphrec.data.storage import load_dataset, save_dataset
    from tests.conftest import shared_dataset

    ds = load(shared_dataset("ml-100k"), "ml", text_encoder="tfidf")
    assert ds.probability_modalities == ["genre"]
    save_dataset(ds, tmp_path)
    assert load_dataset("ml", tmp_path).probability_modalities == ["genre"]
    # a MovieLens dataset prepared before meta.json had the key keeps its genre declaration
    meta_path = tmp_path / "ml" / "meta.json"
    meta = json.loads(meta_path.read_text())
    del meta["probability_modalities"]
    meta_path.write_text(json.dumps(meta))
    assert load_dataset("ml", tmp_path).probability_modalities == ["genre"]


def test_iris_reconstruction_loss_is_eq3_on_standardised_features():
    model = iris_model()
    batch = {"user": torch.tensor([0] * 5), "item": torch.tensor([0, 1, 3, 4, 6]),
             "label": torch.tensor([1.0, 0, 0, 0, 0])}
    want = 0.0
    for m in ("genre", "textual"):
        x = model.feature(m)
        std = x.std(0)
        target = (x - x.mean(0)) / torch.where(std > 0, std, torch.ones_like(std))
        want += float(((model.decoders[m](model.latent) - target) ** 2).mean().detach())
    got = model.loss(batch)["recon"]
    assert float(got) == pytest.approx(model.recon_weight * want, rel=1e-5) and float(got) > 0
    got.backward()  # the codes H learn from it
    assert model.latent.grad is not None and float(model.latent.grad.abs().sum()) > 0


def test_iris_score_is_the_fm_over_its_fields():
    """ŷ = w₀ + linear terms + Σ_{f<g}⟨e_f, e_g⟩ over {history, item id, latent, genre}, with the history field
    e_hist = Σ_j w_ij p̂_j pooled explicitly here (the model never pools it)."""
    model = iris_model()
    users, items = all_pairs()
    with torch.no_grad():
        got = model.score(users, items)
        fields, linear = model.item_fields()
        content = fields.sum(1)
        att = model.attention
        want = []
        for u, i in zip(users.tolist(), items.tolist()):
            hist = [j for j in TRAIN[u] if j != i]
            q = model.Q[i] + content[i]
            e_hist = torch.zeros(4)
            if hist:
                p = model.P[hist] + content[hist]
                a = torch.relu(att.W(p * q)) @ att.h
                e_hist = (a.exp() / a.exp().sum() ** att.beta) @ p
            all_fields = torch.stack([e_hist, model.Q[i], *fields[i]])
            pairs = sum(float(all_fields[a] @ all_fields[b]) for a in range(4) for b in range(a + 1, 4))
            want.append(pairs + float(model.global_bias + model.item_bias[i] + linear[i]))
    assert torch.allclose(got, torch.tensor(want), atol=1e-4)


def test_iris_item_terms_are_eq11_linear_weights_and_pairs_within_each_field():
    """The item-only part of ŷ: w_hᵀh + w_fᵀf + Σ_field Σ_{k<l} x_k x_l ⟨V_k, V_l⟩, by explicit double loops."""
    model = iris_model()
    with torch.no_grad():
        model.within_field_pairs = True
        _, linear = model.item_fields()
        _, fields_only = iris_model(within_field_pairs=False).item_fields()
        h, vh = model.latent, model.content.weight.T
        f, vf = model.filtered_genre, model.filter_factors["genre"]
        for i in range(N_ITEMS):
            want = float(model.content_linear.weight[0] @ h[i] + model.filter_linear["genre"] @ f[i])
            for x, v in ((h[i], vh), (f[i], vf)):
                want += sum(float(x[k] * x[l] * (v[k] @ v[l])) for k in range(len(x)) for l in range(k + 1, len(x)))
            assert float(linear[i]) == pytest.approx(want, rel=1e-4, abs=1e-5)
        assert not torch.allclose(linear, fields_only)  # within_field_pairs=false leaves them out


@pytest.mark.parametrize("switches", [{"subspace": False}, {"attention": "mean"}, {"predictor": "dot"}])
def test_iris_ablation_switches_change_the_model(switches):
    base, variant = iris_model(), iris_model(**switches)
    users, items = all_pairs()
    batch = {"user": torch.tensor([0] * 5), "item": torch.tensor([0, 1, 3, 4, 6]),
             "label": torch.tensor([1.0, 0, 0, 0, 0])}
    if "subspace" in switches:
        # direct fusion: the content field is V_h applied to the standardised, concatenated raw features
        assert not hasattr(variant, "latent") and "recon" not in variant.loss(batch) and "recon" in base.loss(batch)
        with torch.no_grad():
            fused = torch.cat([variant.target_genre, variant.target_textual], 1)
            assert torch.allclose(variant.item_fields()[0][:, 0], fused @ variant.content.weight.T, atol=1e-6)
            before = variant.score(users, items)
            variant.target_textual.mul_(2.0)  # the scores read the raw features themselves
            assert not torch.allclose(before, variant.score(users, items))
    if switches.get("predictor") == "dot":
        # ŷ = ⟨e_hist, q̂_i⟩ + b_i: no FM pairs, no linear content terms, no global bias
        with torch.no_grad():
            variant.global_bias.fill_(5.0)
            content = variant.item_fields()[0].sum(1)
            att = variant.attention
            want = []
            for u, i in zip(users.tolist(), items.tolist()):
                hist = [j for j in TRAIN[u] if j != i]
                q = variant.Q[i] + content[i]
                value = float(variant.item_bias[i])
                if hist:
                    p = variant.P[hist] + content[hist]
                    a = torch.relu(att.W(p * q)) @ att.h
                    value += float((a.exp() / a.exp().sum() ** att.beta) @ (p @ q))
                want.append(value)
            assert torch.allclose(variant.score(users, items), torch.tensor(want), atol=1e-4)
    if switches.get("attention") == "mean":
        # uniform weights: the pooled history term is the mean of ⟨p̂_j, q̂_i⟩
        with torch.no_grad():
            variant.predictor = "dot"
            fields, _ = variant.item_fields()
            content = fields.sum(1)
            hist = [j for j in TRAIN[3] if j != 9]
            q = variant.Q[9] + content[9]
            want = float(((variant.P[hist] + content[hist]) @ q).mean() + variant.item_bias[9])
            assert math.isclose(float(variant.score(torch.tensor([3]), torch.tensor([9]))), want, rel_tol=1e-5)


def test_neumf_combines_pretrained_gmf_and_mlp_with_alpha():
    gmf, mlp = NeuMF(N_USERS, N_ITEMS, ["gmf"], embedding_dim=4), NeuMF(N_USERS, N_ITEMS, ["mlp"], layers=[8, 4])
    both = NeuMF(N_USERS, N_ITEMS, ["gmf", "mlp"], embedding_dim=4, layers=[8, 4], alpha=0.5)
    for m in (gmf, mlp):
        for p in m.parameters():
            torch.nn.init.normal_(p)
    both.load_pretrained("gmf", gmf.state_dict())
    both.load_pretrained("mlp", mlp.state_dict())
    users, items = all_pairs()
    with torch.no_grad():
        # σ⁻¹ of NeuMF = ½ (GMF logit) + ½ (MLP logit) right after pre-training
        assert torch.allclose(both.score(users, items), 0.5 * gmf.score(users, items) + 0.5 * mlp.score(users, items),
                              atol=1e-5)
    with pytest.raises(ConfigError, match="pretrained_gmf"):
        NeuMF(N_USERS, N_ITEMS, ["gmf"], embedding_dim=8).load_pretrained("gmf", gmf.state_dict())


# ---------------------------------------------------------------------------------------------------- training


@pytest.mark.parametrize("model", models_under("iris"))
def test_pointwise_models_learn_under_eval_iris(make_cfg, tmp_path, model):
    from graphrec.training.run import run_training

    batch = 256 if model == "iris" else 32  # IRIS learns from its planted features fast; the rest need steps
    cfg = make_cfg(f"model={model}", "eval=iris", "trainer.epochs=4", "trainer.patience=4", "trainer.lr=0.01",
                   f"trainer.batch_size={batch}")
    res = run_training(cfg, tmp_path / model)
    # 1 positive among 100 candidates: a random ranking has HR@10 = 0.10
    assert res["test"]["hit@10"] > 0.3, res["test"]
    assert res["protocol"] == "loo" and res["split_counts"]["valid"] == res["test_users"]["evaluated"]


def test_every_ranking_model_is_evaluable_under_eval_iris(make_cfg, tmp_path):
    from graphrec.training.run import run_training

    res = run_training(make_cfg("model=lightgcn", "eval=iris", "trainer.epochs=1"), tmp_path / "lgcn")
    assert set(res["test"]) == {"hit@5", "ndcg@5", "hit@10", "ndcg@10", "mrr@10", "hit@20", "ndcg@20"}


def test_nais_pretrains_from_fism_of_the_same_split_only(make_cfg, tmp_path):
    from graphrec.experiment import build_experiment
    from graphrec.checkpoints import load_checkpoint
    from graphrec.training.run import run_training

    run_training(make_cfg("model=fism", "eval=iris", "trainer.epochs=1"), tmp_path / "fism")
    ckpt = tmp_path / "fism" / "checkpoints" / "best.pt"
    exp = build_experiment(make_cfg("model=nais", "eval=iris", f"model.pretrained_fism={ckpt}"))
    fism = load_checkpoint(ckpt)["model"]
    assert torch.equal(exp.model.P.detach(), fism["P"]) and torch.equal(exp.model.Q.detach(), fism["Q"])
    with pytest.raises(ConfigError, match="another split"):
        build_experiment(make_cfg("model=nais", "eval=iris", "eval.split_seed=1", f"model.pretrained_fism={ckpt}"))
    with pytest.raises(ConfigError, match="embedding_dim"):
        build_experiment(make_cfg("model=nais", "eval=iris", "model.embedding_dim=8", f"model.pretrained_fism={ckpt}"))
