"""Negative sampling never returns a training positive of the user."""

import pytest
import torch

from graphrec.data.sampler import InteractionIndex, NegativeSampler, TrainingBatches


def test_never_returns_positive():
    g = torch.Generator().manual_seed(0)
    n_users, n_items = 50, 40
    user = torch.randint(0, n_users, (1500,), generator=g)
    item = torch.randint(0, n_items, (1500,), generator=g)
    # user 0 has every item but item 0: the sampler must still find it
    user, item = user[user != 0], item[user != 0]
    user = torch.cat([user, torch.zeros(n_items - 1, dtype=torch.long)])
    item = torch.cat([item, torch.arange(1, n_items)])
    index = InteractionIndex(user, item, n_users, n_items)
    sampler = NegativeSampler(index)
    users = torch.arange(n_users).repeat(40)
    neg = sampler.sample(users, n_neg=7, generator=g)
    assert neg.shape == (users.numel(), 7)
    assert not index.contains(users.unsqueeze(1).expand_as(neg), neg).any()
    assert (neg[users == 0] == 0).all()
    pos_set = {(int(u), int(i)) for u, i in zip(user, item)}
    assert all((int(u), int(n)) not in pos_set for u, row in zip(users[:200], neg[:200]) for n in row)


def test_user_with_every_item_is_an_error():
    import pytest

    from graphrec.errors import DataError

    sampler = NegativeSampler(InteractionIndex(torch.zeros(3, dtype=torch.long), torch.arange(3), 2, 3))
    with pytest.raises(DataError, match="every item"):
        sampler.sample(torch.tensor([0, 1]))


def test_batches_cover_epoch_pairwise_and_pointwise():
    user = torch.tensor([0, 0, 1, 2, 2, 2])
    item = torch.tensor([0, 1, 2, 0, 3, 4])
    sampler = NegativeSampler(InteractionIndex(user, item, 3, 8))
    pairwise = list(TrainingBatches(user, item, sampler, batch_size=4).epoch(torch.Generator().manual_seed(1)))
    seen = sorted((int(u), int(p)) for b in pairwise for u, p in zip(b["user"], b["pos"]))
    assert seen == sorted(zip(user.tolist(), item.tolist()))
    pointwise = list(TrainingBatches(user, item, sampler, 6, n_neg=3, kind="pointwise").epoch(torch.Generator()))
    b = pointwise[0]
    assert b["item"].shape == (24,) and b["label"].sum() == 6
    positive = list(TrainingBatches(user, item, None, 4, kind="positive").epoch(torch.Generator().manual_seed(2)))
    assert all(set(b) == {"user", "pos"} for b in positive)
    seen = sorted((int(u), int(p)) for b in positive for u, p in zip(b["user"], b["pos"]))
    assert seen == sorted(zip(user.tolist(), item.tolist()))
    with pytest.raises(ValueError, match="positive"):
        TrainingBatches(user, item, sampler, 4, kind="negative-free")
