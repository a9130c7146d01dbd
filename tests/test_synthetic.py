"""The synthetic world is reproducible and carries the planted structure."""

import numpy as np

from graphrec.data.synthetic import generate_world


def test_same_seed_same_world_and_different_seed_differs():
    a, b, c = generate_world(seed=5), generate_world(seed=5), generate_world(seed=6)
    assert a.arrays().keys() == b.arrays().keys()
    assert all(np.array_equal(a.arrays()[k], b.arrays()[k]) for k in a.arrays())
    assert not np.array_equal(a.item, c.item)


def test_planted_structure():
    ds = generate_world(seed=0)
    coarse = ds.extras["item_coarse"]
    # users interact mostly inside their home coarse intent
    share = (coarse[ds.item] == ds.extras["user_home"][ds.user]).mean()
    assert share > 0.6
    # visual features separate fine intents: nearest-centroid accuracy far above chance (1/32)
    fine = ds.extras["item_fine"]
    vis = ds.features["visual"]
    centroids = np.stack([vis[fine == f].mean(0) for f in range(32)])
    pred = np.argmin(((vis[:, None, :] - centroids[None]) ** 2).sum(-1), axis=1)
    assert (pred == fine).mean() > 0.5
    # popularity is skewed (Zipf-like)
    counts = np.sort(np.bincount(ds.item, minlength=ds.n_items))[::-1]
    assert counts[: ds.n_items // 10].sum() > 0.3 * counts.sum()
    # impressions carry clicks and non-clicks; tags and categories cover items
    assert 0 < ds.impressions["click"].mean() < 1
    assert np.array_equal(ds.categories["primary"], coarse)
    assert np.unique(ds.tags["item"]).size > 0.9 * ds.n_items
    assert ds.timestamp is not None and ds.timestamp.min() < ds.timestamp.max()


def test_size_knobs():
    ds = generate_world(n_users=5000, n_items=3000, interactions_per_user=40, seed=1)
    assert ds.n_users == 5000 and ds.n_interactions > 100_000
