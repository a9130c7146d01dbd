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
