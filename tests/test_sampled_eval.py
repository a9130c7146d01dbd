"""Sampled evaluator: ties count against the positive."""

import math

import torch

from graphrec.data.sampler import InteractionIndex, NegativeSampler
from graphrec.evaluation.sampled import SampledEvaluator
from tests.test_metrics import FixedScores


def test_ties_count_against_positive():
    n_items = 50
    scores = torch.zeros(2, n_items)
    scores[0, 3] = 1.0  # user 0: positive strictly best -> rank 0
    # user 1: all scores equal -> every negative ties -> rank = 99 -> outside top 10
    model = FixedScores(scores)
    sampler = NegativeSampler(InteractionIndex(torch.tensor([0, 1]), torch.tensor([3, 3]), 2, n_items))
    ev = SampledEvaluator(["hit@10", "ndcg@10"])
    users = torch.tensor([0, 1])
    out = ev.evaluate(model, users, torch.tensor([3, 3]), sampler.sample_distinct(users, 20), n_users=3)
    assert out["hit@10"] == 0.5
    assert out["ndcg@10"] == (1 / math.log2(2)) / 2
    assert out["n_users"] == 2 and out["n_users_skipped"] == 1  # user 2 has no held-out pair


def test_distinct_negatives_outside_every_interaction_and_fixed_per_seed(make_cfg):
    from graphrec.experiment import build_experiment

    exp = build_experiment(make_cfg("model=mf", "eval=loo", "eval.n_negatives=99"))
    ds = exp.dataset
    known = set(zip(ds.user.tolist(), ds.item.tolist()))  # every split
    for part in ("valid", "test"):
        users = exp.task.parts[part][0]
        neg = exp.task.sampled_negatives(part)
        assert neg.shape == (users.numel(), 99)
        assert all(len(set(row)) == 99 for row in neg.tolist())  # distinct within a row
        assert not any((u, i) in known for u, row in zip(users.tolist(), neg.tolist()) for i in row)
        assert exp.task.sampled_negatives(part) is neg  # drawn once, kept across epochs
    again = build_experiment(make_cfg("model=mf", "eval=loo", "eval.n_negatives=99", "seed=3"))
    assert torch.equal(again.task.sampled_negatives("test"), exp.task.sampled_negatives("test"))  # one candidate set per split
    other = build_experiment(make_cfg("model=mf", "eval=loo", "eval.n_negatives=99", "eval.split_seed=1"))
    assert not torch.equal(other.task.sampled_negatives("test"), exp.task.sampled_negatives("test"))
    out = exp.evaluate("test")
    assert out["n_users"] + out["n_users_skipped"] == ds.n_users and out["n_users"] == exp.task.parts["test"][0].numel()


def test_distinct_negatives_are_uniform_and_refuse_too_few_items():
    import pytest

    from graphrec.errors import DataError

    index = InteractionIndex(torch.tensor([0, 0, 1]), torch.tensor([0, 1, 2]), 2, 10)
    sampler = NegativeSampler(index)
    draws = sampler.sample_distinct(torch.zeros(4000, dtype=torch.long), 3, torch.Generator().manual_seed(0),
                                    max_block_elements=1000)  # several row blocks
    counts = torch.bincount(draws.flatten(), minlength=10)
    assert counts[:2].sum() == 0 and (counts[2:] - 1500).abs().max() < 150  # 12000 draws over 8 free items
    assert sampler.sample_distinct(torch.tensor([1]), 9).sort().values.tolist() == [[0, 1, 3, 4, 5, 6, 7, 8, 9]]
    with pytest.raises(DataError, match="user 0 has only 8 items"):
        sampler.sample_distinct(torch.tensor([1, 0]), 9)


def _cold_user_task(protocol: str, drop: bool):
    """3 users, 6 items; user 2 has a test item but no training interaction (cold)."""
    from omegaconf import OmegaConf

    from graphrec.tasks.ranking import RankingTask

    def index(pairs):
        u, i = (torch.tensor(x) for x in zip(*pairs))
        return (u, i), InteractionIndex(u, i, 3, 6)

    train, valid, test = [(0, 0), (0, 1), (1, 2)], [(0, 2), (1, 3)], [(0, 3), (1, 4), (2, 5)]
    parts, csr = {}, {}
    for name, pairs in (("train", train), ("valid", valid), ("test", test)):
        parts[name], csr[name] = index(pairs)
    _, everything = index(train + valid + test)
    ecfg = OmegaConf.create({"metrics": ["hit@1", "mrr@3"] if protocol == "sampled" else ["recall@1", "mrr@3"],
                             "protocol": protocol, "block_size": 2, "n_negatives": 2, "split_seed": 0,
                             "drop_cold_users": drop})
    return RankingTask(ecfg, parts, csr, everything, "hand")


def test_drop_cold_users_leaves_out_users_without_training_interactions():
    # train and valid items are masked at test: user 0 ranks among {3, 4, 5}, user 1 among {0, 1, 4, 5}
    scores = torch.tensor([[0., 0., 0., 5., 1., 2.],   # user 0: test item 3 first -> hit, rr 1
                           [0., 0., 0., 0., 1., 3.],   # user 1: test item 4 second -> miss@1, rr 1/2
                           [0., 0., 0., 0., 0., 9.]])  # user 2 (cold): test item 5 first -> hit, rr 1
    model = FixedScores(scores)
    kept = _cold_user_task("full", drop=False).evaluate(model, "test")
    dropped = _cold_user_task("full", drop=True).evaluate(model, "test")
    assert kept["recall@1"] == 2 / 3 and kept["mrr@3"] == (1 + 0.5 + 1) / 3 and kept["n_users"] == 3
    assert dropped["recall@1"] == 1 / 2 and dropped["mrr@3"] == (1 + 0.5) / 2
    assert dropped["n_users"] == 2 and dropped["n_users_dropped"] == 1 and kept["n_users_dropped"] == 0
    s_kept = _cold_user_task("sampled", drop=False).evaluate(model, "test")
    s_dropped = _cold_user_task("sampled", drop=True).evaluate(model, "test")
    assert s_kept["n_users"] == 3 and s_dropped["n_users"] == 2 and s_dropped["n_users_dropped"] == 1
    assert s_dropped["n_users"] + s_dropped["n_users_skipped"] + s_dropped["n_users_dropped"] == 3
    assert s_kept["hit@1"] != s_dropped["hit@1"] or s_kept["mrr@3"] != s_dropped["mrr@3"]


def test_sampled_mrr_is_reciprocal_rank_within_k():
    scores = torch.zeros(3, 10)
    scores[0, 3], scores[0, 4] = 1.0, 2.0            # one negative (item 4) above the positive -> rank 1
    scores[1, 3], scores[1, 4], scores[1, 5] = 1.0, 2.0, 3.0  # rank 2, outside K = 2
    negatives = torch.tensor([[4, 6, 7], [4, 5, 6]])
    out = SampledEvaluator(["mrr@2", "hit@2"]).evaluate(FixedScores(scores), torch.tensor([0, 1]),
                                                         torch.tensor([3, 3]), negatives, n_users=3)
    assert out["mrr@2"] == (1 / 2 + 0) / 2 and out["hit@2"] == 0.5
