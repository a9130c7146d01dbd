"""Ranking metrics against hand-computed cases, and the full-ranking evaluator against brute force."""

import math

import numpy as np
import pytest
import torch

from graphrec.data.interactions import InteractionIndex
from graphrec.evaluation.full_ranking import FullRankingEvaluator
from graphrec.evaluation.metrics import auc_from_scores, ranking_metrics
from graphrec.models.base import Recommender


def test_hand_computed_single_user():
    # ranked list hits at ranks 0 and 2; 3 positives in total
    hits = torch.tensor([[1, 0, 1, 0, 0]], dtype=torch.bool)
    m = ranking_metrics(hits, torch.tensor([3]), [1, 3, 5], ["recall", "precision", "ndcg", "hit", "map", "mrr"])
    assert m["recall@3"].item() == pytest.approx(2 / 3)
    assert m["precision@5"].item() == pytest.approx(2 / 5)
    assert m["hit@1"].item() == 1.0
    dcg = 1 + 1 / math.log2(4)
    idcg3 = 1 + 1 / math.log2(3) + 1 / math.log2(4)
    assert m["ndcg@3"].item() == pytest.approx(dcg / idcg3)
    # IDCG@5 uses min(3, 5) = 3 ideal items
    assert m["ndcg@5"].item() == pytest.approx(dcg / idcg3)
    assert m["map@3"].item() == pytest.approx((1 + 2 / 3) / 3)
    assert m["mrr@5"].item() == 1.0


def test_first_hit_late_and_no_hit():
    hits = torch.tensor([[0, 0, 0, 1], [0, 0, 0, 0]], dtype=torch.bool)
    m = ranking_metrics(hits, torch.tensor([1, 2]), [2, 4], ["mrr", "ndcg", "hit", "recall"])
    assert m["mrr@4"].tolist() == pytest.approx([0.25, 0.0])
    assert m["mrr@2"].tolist() == [0.0, 0.0]
    assert m["ndcg@4"][0].item() == pytest.approx(1 / math.log2(5))
    assert m["hit@4"].tolist() == [1.0, 0.0]


def test_auc_hand_computed_with_ties_and_exclusions():
    scores = torch.tensor([[0.9, 0.5, 0.5, 0.1, 5.0]])
    positive = torch.tensor([[True, False, True, False, False]])
    candidate = torch.tensor([[True, True, True, True, False]])  # item 4 excluded despite its high score
    # pairs: (0 vs 1) 1, (0 vs 3) 1, (2 vs 1) tie 0.5, (2 vs 3) 1 -> 3.5 / 4
    assert auc_from_scores(scores, positive, candidate).item() == pytest.approx(0.875)


class FixedScores(Recommender):
    def __init__(self, scores: torch.Tensor):
        super().__init__(*scores.shape)
        self.s = torch.nn.Parameter(scores.clone())

    def score(self, users, items=None):
        rows = self.s[users]
        if items is None:
            return rows
        return rows.gather(1, items if items.dim() == 2 else items.unsqueeze(1)).reshape(items.shape)


def brute_force(scores, train, target, k):
    out = {"recall": [], "ndcg": [], "precision": [], "auc": []}
    for u in range(scores.shape[0]):
        pos = {i for (uu, i) in target if uu == u}
        if not pos:
            continue
        seen = {i for (uu, i) in train if uu == u}
        cand = [i for i in range(scores.shape[1]) if i not in seen]
        ranked = sorted(cand, key=lambda i: -scores[u, i])[:k]
        hits = [1 if i in pos else 0 for i in ranked]
        out["recall"].append(sum(hits) / len(pos))
        out["precision"].append(sum(hits) / k)
        dcg = sum(h / math.log2(r + 2) for r, h in enumerate(hits))
        idcg = sum(1 / math.log2(r + 2) for r in range(min(len(pos), k)))
        out["ndcg"].append(dcg / idcg)
        negs = [i for i in cand if i not in pos]
        wins = sum((scores[u, p] > scores[u, n]) + 0.5 * (scores[u, p] == scores[u, n]) for p in pos for n in negs)
        out["auc"].append(wins / (len(pos) * len(negs)))
    return {k2: float(np.mean(v)) for k2, v in out.items()}


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_full_ranking_matches_brute_force(seed):
    rng = np.random.default_rng(seed)
    n_users, n_items, k = 23, 31, 5
    scores = torch.tensor(rng.normal(size=(n_users, n_items)), dtype=torch.float32)
    pairs = {(int(u), int(i)) for u, i in zip(rng.integers(0, n_users, 300), rng.integers(0, n_items, 300))}
    pairs = sorted(pairs)
    rng.shuffle(pairs)
    train, target = pairs[: len(pairs) * 2 // 3], pairs[len(pairs) * 2 // 3:]
    to_csr = lambda p: InteractionIndex(torch.tensor([a for a, _ in p]), torch.tensor([b for _, b in p]), n_users, n_items)
    evaluator = FullRankingEvaluator([f"recall@{k}", f"ndcg@{k}", f"precision@{k}", "auc"], block_size=7)
    got = evaluator.evaluate(FixedScores(scores), to_csr(target), [to_csr(train)])
    ref = brute_force(scores.numpy(), train, target, k)
    for name in ("recall", "ndcg", "precision"):
        assert got[f"{name}@{k}"] == pytest.approx(ref[name], abs=1e-6)
    assert got["auc"] == pytest.approx(ref["auc"], abs=1e-6)
    assert got["n_users"] + got["n_users_skipped"] == n_users


def test_masked_items_never_recommended():
    scores = torch.tensor([[10.0, 9.0, 1.0, 0.0]])
    train = InteractionIndex(torch.tensor([0, 0]), torch.tensor([0, 1]), 1, 4)
    target = InteractionIndex(torch.tensor([0]), torch.tensor([2]), 1, 4)
    got = FullRankingEvaluator(["hit@1"]).evaluate(FixedScores(scores), target, [train])
    assert got["hit@1"] == 1.0  # items 0 and 1 masked with -inf, so item 2 ranks first
