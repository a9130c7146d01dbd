"""No evaluator turns a NaN or infinite score into a good metric: such scores are misses, counted."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from graphrec.data.interactions import InteractionIndex
from graphrec.evaluation.ctr import CtrEvaluator
from graphrec.evaluation.full_ranking import FullRankingEvaluator
from graphrec.evaluation.sampled import SampledEvaluator
from tests.test_metrics import FixedScores

BAD = [float("nan"), float("inf"), float("-inf")]


@pytest.mark.parametrize("bad", BAD)
def test_full_ranking_counts_nonfinite_users_as_misses(bad):
    scores = torch.arange(12, dtype=torch.float32).reshape(2, 6).flip(1).contiguous()  # item 0 first for both
    target = InteractionIndex(torch.tensor([0, 1]), torch.tensor([5, 0]), 2, 6)
    train = InteractionIndex(torch.tensor([0]), torch.tensor([4]), 2, 6)
    scores[0, 5] = bad  # user 0's positive (last otherwise)
    out = FullRankingEvaluator(["recall@2", "ndcg@2", "hit@2", "mrr@2", "auc"]).evaluate(
        FixedScores(scores), target, [train])
    # user 1 ranks its positive first (1 for every metric); user 0 is judged from a non-finite score: 0
    assert out["n_nonfinite"] == 1
    assert out["recall@2"] == out["ndcg@2"] == out["hit@2"] == out["mrr@2"] == out["auc"] == 0.5


@pytest.mark.parametrize("where", ["positive", "negative"])
@pytest.mark.parametrize("bad", BAD)
def test_sampled_counts_nonfinite_pairs_as_misses(bad, where):
    scores = torch.zeros(2, 10)
    scores[:, 3] = 1.0  # both positives above every negative
    scores[0, 3 if where == "positive" else 5] = bad
    out = SampledEvaluator(["hit@2", "ndcg@2", "mrr@2"]).evaluate(
        FixedScores(scores), torch.tensor([0, 1]), torch.tensor([3, 3]), torch.tensor([[4, 5, 6], [4, 5, 6]]), 2)
    assert out["n_nonfinite"] == 1
    assert out["hit@2"] == out["ndcg@2"] == out["mrr@2"] == 0.5


class _Logits(torch.nn.Module):
    """Predicts the logit stored in each batch (``batch["logit"]``)."""

    def __init__(self):
        super().__init__()
        self.w = torch.nn.Parameter(torch.zeros(1))

    def predict(self, batch):
        return batch["logit"]


def _batches(logit, label, user):
    return [{"logit": torch.tensor(logit, dtype=torch.float32), "label": torch.tensor(label),
             "user": torch.tensor(user)}]


@pytest.mark.parametrize("bad", BAD)
def test_ctr_takes_nonfinite_logits_as_the_most_wrong_prediction(bad):
    label = [1, 1, 0, 0]
    user = [0, 0, 0, 0]
    ev = CtrEvaluator(["auc", "user_auc", "logloss", "precision@1", "recall@1"])
    # the first click's logit is non-finite; as the most wrong prediction it ranks below both non-clicks
    out = ev.evaluate(_Logits(), _batches([bad, 3.0, 1.0, 2.0], label, user))
    assert out["n_nonfinite"] == 1
    assert out["auc"] == pytest.approx(0.5) and out["user_auc"] == pytest.approx(0.5)
    assert math.isinf(out["logloss"]) and out["precision@1"] == 1.0
    # a non-click's non-finite logit ranks above every click
    out = ev.evaluate(_Logits(), _batches([2.0, 3.0, bad, 1.0], label, user))
    assert out["n_nonfinite"] == 1 and out["auc"] == pytest.approx(0.5) and out["precision@1"] == 0.0
    clean = ev.evaluate(_Logits(), _batches([2.0, 3.0, 1.0, 0.5], label, user))
    assert clean["n_nonfinite"] == 0 and clean["auc"] == 1.0 and np.isfinite(clean["logloss"])
