"""Split protocols: disjoint, complete, seeded, with the stated ratios and per-user rules."""

import numpy as np
import pytest

from graphrec.data.splits import make_split
from graphrec.data.synthetic import generate_world
from graphrec.errors import ConfigError, DataError


@pytest.fixture(scope="module")
def world():
    return generate_world(n_users=400, n_items=300, interactions_per_user=15, seed=3)


def _check_partition(split, n):
    parts = [split.train, split.valid, split.test]
    allidx = np.concatenate(parts)
    assert allidx.size == n and np.unique(allidx).size == n  # disjoint and complete


@pytest.mark.parametrize("protocol", ["random", "per_user", "loo", "temporal"])
def test_disjoint_complete_and_seeded(world, protocol):
    a = make_split(world, protocol, [0.8, 0.1, 0.1], seed=1)
    b = make_split(world, protocol, [0.8, 0.1, 0.1], seed=1)
    c = make_split(world, protocol, [0.8, 0.1, 0.1], seed=2)
    _check_partition(a, world.n_interactions)
    assert all(np.array_equal(a.part(p), b.part(p)) for p in ("train", "valid", "test"))
    if protocol != "temporal":  # the time cut does not depend on the seed
        assert not np.array_equal(a.test, c.test)


def test_random_ratios(world):
    s = make_split(world, "random", [0.8, 0.1, 0.1], seed=0)
    n = world.n_interactions
    assert abs(s.train.size - 0.8 * n) <= 1 and abs(s.valid.size - 0.1 * n) <= 1


def test_per_user_ratios_and_small_users(world):
    s = make_split(world, "per_user", [0.8, 0.1, 0.1], seed=0, min_user_interactions=10)
    counts = np.bincount(world.user, minlength=world.n_users)
    test_counts = np.bincount(world.user[s.test], minlength=world.n_users)
    valid_counts = np.bincount(world.user[s.valid], minlength=world.n_users)
    big = counts >= 10
    assert np.array_equal(test_counts[big], np.floor(0.1 * counts[big]).astype(int))
    assert np.array_equal(valid_counts[big], np.floor(0.1 * counts[big]).astype(int))
    assert test_counts[~big].sum() == 0 and valid_counts[~big].sum() == 0


def test_leave_one_out_latest(world):
    s = make_split(world, "loo", [0.8, 0.1, 0.1], seed=0, loo_order="latest")
    assert np.bincount(world.user[s.test]).max() == 1
    for u in np.unique(world.user[s.test])[:50]:
        mine = world.user == u
        t_test = world.timestamp[s.test][world.user[s.test] == u][0]
        assert t_test >= world.timestamp[mine].max()


def test_temporal_cut(world):
    s = make_split(world, "temporal", [0.8, 0.1, 0.1])
    assert world.timestamp[s.train].max() <= world.timestamp[s.valid].min()
    assert world.timestamp[s.valid].max() <= world.timestamp[s.test].min()


def test_errors(world):
    with pytest.raises(ConfigError, match="unknown protocol"):
        make_split(world, "bogus")
    with pytest.raises(DataError, match="no fixed split"):
        make_split(world, "fixed")
    world.split = np.zeros(world.n_interactions, dtype=np.int8)  # everything in train: test empty
    with pytest.raises(DataError, match="test split is empty"):
        make_split(world, "fixed")
    world.split = None
