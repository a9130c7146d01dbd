"""A seeded synthetic micro-video world with planted structure that models can learn and tests can check.

Structure:
- a hierarchy of intents: ``n_coarse`` coarse intents, each split into ``branching[0]`` mid intents, each
  split into ``branching[1]`` fine intents (default 4 → 8 → 32);
- every item belongs to one fine intent; popularity is Zipf-like, ``w_i ∝ rank_i^(−zipf)``;
- intent centres are nested Gaussians (fine = mid + noise = coarse + noise + noise); an item's latent vector is
  its fine centre plus noise. Visual features carry the item latent (fine level), textual the mid centre,
  acoustic the coarse centre, each through its own random projection plus Gaussian noise;
- users have a home coarse intent and a preference over fine intents that drifts linearly over time from a
  start profile to an end profile; each interaction draws a time, a fine intent from the preference at that
  time, then an item of that intent by popularity;
- an impression log: each click plus ``impressions_per_click`` non-clicked popularity-sampled items;
- for click-through models (both off by default): ``interests = k ≥ 2`` gives every user k interests in k
  distinct coarse intents (one fine intent in each, Dirichlet(1) weights; a drifting user re-draws the fine
  intents and weights of the same coarse intents for the end profile); ``false_click_rate`` plants that share
  of extra clicks per user on popular items of coarse intents none of the user's interests belong to (false
  positives), marked by the impression label ``planted_false_click`` (0/1 per impression);
- item tags (fine- and mid-level tags plus noise tags) and categories (primary = coarse, secondary = mid).

The planted labels are kept as extras: ``item_coarse``, ``item_mid``, ``item_fine``, ``user_home``.
Same arguments → identical arrays.
"""

from __future__ import annotations

import numpy as np

from graphrec.data.dataset import Dataset, validate

DAY = 86_400.0


def generate_world(
    n_users: int = 2000,
    n_items: int = 1500,
    interactions_per_user: float = 20.0,
    n_coarse: int = 4,
    branching: tuple[int, int] = (2, 4),
    zipf: float = 0.8,
    latent_dim: int = 16,
    dims: dict[str, int] | None = None,
    noise: dict[str, float] | None = None,
    drift: float = 0.5,
    impressions_per_click: float = 2.0,
    days: float = 90.0,
    seed: int = 0,
    name: str = "synthetic",
    interests: int = 0,
    false_click_rate: float = 0.0,
) -> Dataset:
    """Generate the world; see the module docstring. ``drift`` is the chance a user's end profile differs."""
    dims = dict(dims or {"visual": 64, "acoustic": 32, "textual": 48})
    noise = dict(noise or {"visual": 0.5, "acoustic": 1.0, "textual": 0.7})
    rng = np.random.default_rng(seed)
    n_mid = n_coarse * branching[0]
    n_fine = n_mid * branching[1]

    # intent hierarchy and centres
    mid_parent = np.repeat(np.arange(n_coarse), branching[0])
    fine_parent = np.repeat(np.arange(n_mid), branching[1])
    coarse_c = rng.normal(0.0, 1.0, (n_coarse, latent_dim))
    mid_c = coarse_c[mid_parent] + 0.6 * rng.normal(0.0, 1.0, (n_mid, latent_dim))
    fine_c = mid_c[fine_parent] + 0.4 * rng.normal(0.0, 1.0, (n_fine, latent_dim))

    # items: intents, popularity, latent vectors
    item_fine = rng.integers(0, n_fine, n_items)
    item_fine[:n_fine] = np.arange(min(n_fine, n_items))  # every intent has at least one item
    rng.shuffle(item_fine)
    item_mid = fine_parent[item_fine]
    item_coarse = mid_parent[item_mid]
    popularity = 1.0 / (rng.permutation(n_items) + 1.0) ** zipf
    item_latent = fine_c[item_fine] + 0.3 * rng.normal(0.0, 1.0, (n_items, latent_dim))
    signal = {"visual": item_latent, "textual": mid_c[item_mid], "acoustic": coarse_c[item_coarse]}
    features = {}
    for modality, dim in dims.items():
        base = signal.get(modality, item_latent)
        proj = rng.normal(0.0, 1.0 / np.sqrt(latent_dim), (latent_dim, dim))
        feat = base @ proj + noise.get(modality, 0.5) * rng.normal(0.0, 1.0, (n_items, dim))
        features[modality] = feat.astype(np.float32)

    # users: home coarse intent, start and end profiles over fine intents
    user_home = rng.integers(0, n_coarse, n_users)
    fine_coarse = mid_parent[fine_parent]
    if interests >= 2:
        if interests > n_coarse:
            raise ValueError(f"interests: at most n_coarse = {n_coarse} distinct coarse intents, got {interests}")
        coarse_sets = np.argsort(rng.random((n_users, n_coarse)), 1)[:, :interests]
        start = _spread_profiles(rng, coarse_sets, fine_coarse, n_fine)
        end = _spread_profiles(rng, coarse_sets, fine_coarse, n_fine)
    else:
        start = _profiles(rng, user_home, fine_coarse, n_fine)
        end = _profiles(rng, user_home, fine_coarse, n_fine)
    stays = rng.random(n_users) >= drift
    end[stays] = start[stays]

    # interactions
    counts = 3 + rng.poisson(max(interactions_per_user - 3.0, 0.0), n_users)
    user = np.repeat(np.arange(n_users), counts)
    t = rng.random(user.shape[0])
    fine = _sample_intents(rng, user, t, start, end)
    item = _sample_items(rng, fine, item_fine, popularity)
    timestamp = np.round(1.6e9 + t * days * DAY).astype(np.int64)
    order = np.lexsort((timestamp, user))
    user, item, timestamp = user[order], item[order], timestamp[order]
    key = user * n_items + item
    _, first = np.unique(key, return_index=True)
    keep = np.sort(first)
    user, item, timestamp = user[keep], item[keep], timestamp[keep]

    impressions = _impressions(rng, user, item, timestamp, popularity, impressions_per_click, n_items)
    extras = {"item_coarse": item_coarse, "item_mid": item_mid, "item_fine": item_fine, "user_home": user_home}
    if false_click_rate > 0:
        interest_coarse = np.zeros((n_users, n_coarse), bool)
        for prof in (start, end):
            rows, fines = np.nonzero(prof)
            interest_coarse[rows, fine_coarse[fines]] = True
        impressions = _false_clicks(
            rng, impressions, interest_coarse, item_coarse, popularity, false_click_rate)
    tags = _tags(rng, item_fine, item_mid, n_fine, n_mid)
    ds = Dataset(
        name=name, n_users=n_users, n_items=n_items, user=user, item=item, timestamp=timestamp,
        features=features, impressions=impressions, tags=tags,
        categories={"primary": item_coarse.astype(np.int64), "secondary": item_mid.astype(np.int64)},
        extras=extras,
        source={"format": "synthetic", "seed": seed, "n_users": n_users, "n_items": n_items,
                "interactions_per_user": interactions_per_user, "interests": interests,
                "false_click_rate": false_click_rate},
    )
    return validate(ds, "synthetic world")


def _profiles(rng: np.random.Generator, home: np.ndarray, fine_coarse: np.ndarray, n_fine: int) -> np.ndarray:
    """Per user: two fine intents under the home coarse intent and one anywhere, Dirichlet weights."""
    n = home.shape[0]
    per_coarse = np.bincount(fine_coarse)
    offset = np.concatenate([[0], np.cumsum(per_coarse)[:-1]])
    order = np.argsort(fine_coarse, kind="stable")
    local = rng.integers(0, per_coarse[home][:, None], (n, 2))
    picks = np.concatenate([order[offset[home][:, None] + local], rng.integers(0, n_fine, (n, 1))], axis=1)
    weights = rng.dirichlet([5.0, 3.0, 1.0], n)
    prof = np.zeros((n, n_fine))
    np.add.at(prof, (np.repeat(np.arange(n), 3), picks.ravel()), weights.ravel())
    return prof


def _spread_profiles(rng: np.random.Generator, coarse_sets: np.ndarray, fine_coarse: np.ndarray,
                     n_fine: int) -> np.ndarray:
    """Per user: one fine intent inside each of its coarse intents, Dirichlet(1) weights."""
    n, k = coarse_sets.shape
    per_coarse = np.bincount(fine_coarse)
    offset = np.concatenate([[0], np.cumsum(per_coarse)[:-1]])
    order = np.argsort(fine_coarse, kind="stable")
    local = (rng.random((n, k)) * per_coarse[coarse_sets]).astype(np.int64)
    picks = order[offset[coarse_sets] + local]
    prof = np.zeros((n, n_fine))
    np.add.at(prof, (np.repeat(np.arange(n), k), picks.ravel()), rng.dirichlet(np.ones(k), n).ravel())
    return prof


def _false_clicks(rng, imp: dict[str, np.ndarray], interest_coarse: np.ndarray, item_coarse: np.ndarray,
                  popularity: np.ndarray, rate: float) -> dict[str, np.ndarray]:
    """Add Binomial(#clicks, rate) clicks per user on items of coarse intents outside its interests, at random
    times of its span; returns the impressions, re-sorted by user and time, with the 0/1 label
    ``planted_false_click``."""
    clicks = imp["user"][imp["click"] == 1]
    n_users = interest_coarse.shape[0]
    per_user = rng.binomial(np.bincount(clicks, minlength=n_users), rate)
    fp_user = np.repeat(np.arange(n_users), per_user)
    allowed = ~interest_coarse[fp_user]
    if not allowed.any(1).all():
        raise ValueError("false_click_rate: a user's interests cover every coarse intent; lower interests")
    coarse = np.argmax(rng.random(allowed.shape) * allowed, 1)
    fp_item = _sample_items(rng, coarse, item_coarse, popularity)
    first = np.searchsorted(imp["user"], fp_user, side="left")
    last = np.searchsorted(imp["user"], fp_user, side="right") - 1
    lo, hi = imp["timestamp"][first], imp["timestamp"][last]
    fp_time = lo + np.round(rng.random(fp_user.shape[0]) * (hi - lo)).astype(np.int64)
    out = {"user": np.concatenate([imp["user"], fp_user]), "item": np.concatenate([imp["item"], fp_item]),
           "timestamp": np.concatenate([imp["timestamp"], fp_time]),
           "click": np.concatenate([imp["click"], np.ones(fp_user.shape[0], np.int8)])}
    planted = np.concatenate([np.zeros(imp["user"].shape[0], np.int8), np.ones(fp_user.shape[0], np.int8)])
    out["planted_false_click"] = planted
    order = np.lexsort((out["timestamp"], out["user"]))
    return {k: v[order] for k, v in out.items()}


def _sample_intents(rng, user, t, start, end, chunk: int = 1_000_000) -> np.ndarray:
    out = np.empty(user.shape[0], dtype=np.int64)
    for lo in range(0, user.shape[0], chunk):
        u, tt = user[lo:lo + chunk], t[lo:lo + chunk, None]
        prob = (1.0 - tt) * start[u] + tt * end[u]
        cdf = np.cumsum(prob, axis=1)
        r = rng.random((u.shape[0], 1)) * cdf[:, -1:]
        out[lo:lo + chunk] = np.minimum((cdf < r).sum(axis=1), prob.shape[1] - 1)
    return out


def _sample_items(rng, fine, item_fine, popularity) -> np.ndarray:
    """Sample one item of each given fine intent, proportional to popularity."""
    order = np.argsort(item_fine, kind="stable")
    cum = np.cumsum(popularity[order])
    bounds = np.searchsorted(item_fine[order], np.arange(item_fine.max() + 2))
    lo = np.where(bounds[fine] > 0, cum[np.maximum(bounds[fine] - 1, 0)], 0.0)
    hi = cum[bounds[fine + 1] - 1]
    r = lo + rng.random(fine.shape[0]) * (hi - lo)
    pos = np.clip(np.searchsorted(cum, r, side="right"), bounds[fine], bounds[fine + 1] - 1)
    return order[pos]


def _impressions(rng, user, item, timestamp, popularity, per_click, n_items) -> dict[str, np.ndarray]:
    n_neg = int(round(user.shape[0] * per_click))
    src = rng.integers(0, user.shape[0], n_neg)
    neg_user = user[src]
    neg_item = rng.choice(n_items, n_neg, p=popularity / popularity.sum())
    neg_time = timestamp[src] + rng.integers(-3600, 3600, n_neg)
    positives = np.unique(user * n_items + item)
    clicked = np.isin(neg_user * n_items + neg_item, positives)
    neg_user, neg_item, neg_time = neg_user[~clicked], neg_item[~clicked], neg_time[~clicked]
    all_user = np.concatenate([user, neg_user])
    all_item = np.concatenate([item, neg_item])
    all_time = np.concatenate([timestamp, neg_time])
    click = np.concatenate([np.ones(user.shape[0], np.int8), np.zeros(neg_user.shape[0], np.int8)])
    order = np.lexsort((all_time, all_user))
    return {"user": all_user[order], "item": all_item[order], "timestamp": all_time[order], "click": click[order]}


def _tags(rng, item_fine, item_mid, n_fine, n_mid, fine_tags: int = 3, noise_tags: int = 16) -> dict:
    """Each fine intent owns ``fine_tags`` tags, each mid intent one; plus ``noise_tags`` shared noise tags."""
    n = item_fine.shape[0]
    items, tags = [], []
    n_own = 1 + rng.integers(0, 2, n)  # one or two of its fine intent's tags
    for j in range(2):
        has = n_own > j
        items.append(np.flatnonzero(has))
        tags.append(item_fine[has] * fine_tags + (rng.integers(0, fine_tags, has.sum()) + j) % fine_tags)
    mid = rng.random(n) < 0.7
    items.append(np.flatnonzero(mid))
    tags.append(n_fine * fine_tags + item_mid[mid])
    noisy = rng.random(n) < 0.2
    items.append(np.flatnonzero(noisy))
    tags.append(n_fine * fine_tags + n_mid + rng.integers(0, noise_tags, noisy.sum()))
    item_arr, tag_arr = np.concatenate(items), np.concatenate(tags)
    order = np.lexsort((tag_arr, item_arr))
    return {"item": item_arr[order].astype(np.int64), "tag": tag_arr[order].astype(np.int64)}
