"""Time-causal histories and click-through metrics against plain reference implementations."""

import numpy as np
import pytest

from graphrec.data.histories import HistoryIndex
from graphrec.evaluation.ctr import ctr_metrics, grouped_auc, logloss, precision_recall_at


def reference_histories(pool_user, pool_item, pool_time, query_user, query_time, length):
    out = []
    for u, t in zip(query_user, query_time):
        rows = sorted((pool_time[r], r) for r in range(len(pool_user)) if pool_user[r] == u and pool_time[r] < t)
        out.append([(pool_item[r], when) for when, r in rows[-length:]])
    return out


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_histories_are_the_last_records_strictly_before_each_query(seed):
    rng = np.random.default_rng(seed)
    n = 300
    user, item, time = rng.integers(0, 7, n), rng.integers(0, 50, n), rng.integers(0, 40, n)  # many equal times
    pool = rng.random(n) < 0.6
    hist = HistoryIndex(user[pool], item[pool], time[pool]).query(user, time, length=5, pad=50)
    expected = reference_histories(user[pool], item[pool], time[pool], user, time, 5)
    times_pool = time[pool]
    for q, rows in enumerate(expected):
        n_q = int(hist.lengths[q])
        assert n_q == len(rows)
        assert sorted(zip(hist.items[q, :n_q], hist.times[q, :n_q])) == sorted(rows)
        assert (np.diff(hist.times[q, :n_q]) >= 0).all()  # oldest first
        assert (hist.times[q, :n_q] < time[q]).all() and (hist.items[q, n_q:] == 50).all()
        if rows:  # among equal-time records the choice may differ, never the times kept
            assert sorted(hist.times[q, :n_q]) == sorted(w for _, w in rows)
    assert hist.mask.sum() == hist.lengths.sum() and times_pool.size


def test_histories_exclude_the_impression_itself_and_simultaneous_ones():
    # user 0 has records at t = 1, 2, 2; a query at t = 2 sees only t = 1, one at t = 3 sees all three
    index = HistoryIndex(np.array([0, 0, 0, 1]), np.array([10, 11, 12, 13]), np.array([1, 2, 2, 1]))
    hist = index.query(np.array([0, 0, 1, 2]), np.array([2, 3, 1, 5]), length=3, pad=-1)
    assert hist.items.tolist() == [[10, -1, -1], [10, 11, 12], [-1, -1, -1], [-1, -1, -1]]
    assert hist.lengths.tolist() == [1, 3, 0, 0]


def test_empty_pool_gives_empty_histories():
    index = HistoryIndex(np.array([], np.int64), np.array([], np.int64), np.array([], np.int64))
    hist = index.query(np.array([0, 1]), np.array([5, 6]), length=2, pad=9)
    assert hist.items.tolist() == [[9, 9], [9, 9]] and hist.lengths.tolist() == [0, 0]


def brute_auc(label, score):
    pos, neg = score[label == 1], score[label == 0]
    diff = pos[:, None] - neg[None, :]
    return ((diff > 0).sum() + 0.5 * (diff == 0).sum()) / diff.size


def test_auc_and_user_auc_match_the_pairwise_definition_with_ties():
    rng = np.random.default_rng(0)
    user = rng.integers(0, 12, 400)
    label = (rng.random(400) < 0.4).astype(np.int8)
    score = np.round(rng.normal(size=400) + label, 1)  # rounded: many ties
    auc, ids = grouped_auc(np.zeros(400, np.int64), label, score)
    assert auc[0] == pytest.approx(brute_auc(label, score))
    per_user, ids = grouped_auc(user, label, score)
    for u, a in zip(ids, per_user):
        m = user == u
        if label[m].all() or not label[m].any():
            assert np.isnan(a)
        else:
            assert a == pytest.approx(brute_auc(label[m], score[m]))
    got = ctr_metrics(user, label, score, ks=(5,))
    assert got["auc"] == pytest.approx(brute_auc(label, score))
    assert got["user_auc"] == pytest.approx(np.nanmean(per_user))


def test_precision_recall_f1_by_hand():
    # user 0: scores 0.9 (click), 0.8, 0.7 (click), 0.1 -> top-2 has 1 hit: P@2 = 1/2, R@2 = 1/2
    # user 1: one candidate, a click -> P@2 = 1/min(2, 1) = 1, R@2 = 1
    # user 2: no clicks -> P@2 = 0, R@2 = 0 (counted, as in ALPINE's code)
    user = np.array([0, 0, 0, 0, 1, 2, 2])
    label = np.array([1, 0, 1, 0, 1, 0, 0])
    score = np.array([0.9, 0.8, 0.7, 0.1, 0.3, 0.5, 0.4])
    p, r = precision_recall_at(user, label, score, 2)
    assert p == pytest.approx((0.5 + 1 + 0) / 3) and r == pytest.approx((0.5 + 1 + 0) / 3)
    got = ctr_metrics(user, label, score, ks=(2, 50))
    assert got["f1@2"] == pytest.approx(2 * p * r / (p + r))
    assert got["precision@50"] == pytest.approx((2 / 4 + 1 + 0) / 3) and got["recall@50"] == pytest.approx(2 / 3)


def test_logloss_from_logits_is_stable_and_exact():
    z, y = np.array([-800.0, 0.0, 2.0, 800.0]), np.array([0, 1, 0, 1])
    expected = np.mean([0.0, np.log(2), np.log1p(np.exp(2.0)), 0.0])
    assert logloss(y, z) == pytest.approx(expected)
