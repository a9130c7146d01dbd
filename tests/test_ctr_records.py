"""The ctr task's records: splits, and the no-leakage contract of its batches."""

import numpy as np
import pytest
import torch

from graphrec.data.synthetic import generate_world
from graphrec.errors import ConfigError, DataError
from graphrec.tasks.ctr_data import CtrRecords, split_impressions


@pytest.fixture(scope="module")
def world():
    return generate_world(n_users=60, n_items=120, seed=3)


def test_temporal_split_keeps_each_users_order(world):
    imp = world.impressions
    labels = split_impressions(imp, "temporal", (0.6, 0.2, 0.2))
    for u in np.unique(imp["user"]):
        m = imp["user"] == u
        t, lab = imp["timestamp"][m], labels[m]
        order = np.argsort(t, kind="stable")
        assert (np.diff(lab[order]) >= 0).all()  # train, then valid, then test in time
        n = m.sum()
        assert (lab == 0).sum() == round(n * 0.6) and (lab <= 1).sum() == round(n * 0.8)


def test_day_split_takes_the_last_days():
    day = 86_400_000  # milliseconds
    imp = {"user": np.array([0, 0, 1, 1, 0]), "timestamp": np.array([0, day + 5, 2 * day + 1, 3 * day, 3 * day + 9])}
    labels = split_impressions(imp, "day", valid_days=1, test_days=1, time_unit_s=1e-3)
    assert labels.tolist() == [0, 0, 1, 2, 2]
    with pytest.raises(DataError, match="spans 4 day"):
        split_impressions(imp, "day", valid_days=2, test_days=2, time_unit_s=1e-3)


def test_split_errors_are_named():
    imp = {"user": np.array([0]), "timestamp": np.array([0])}
    with pytest.raises(DataError, match="no 'split' column"):
        split_impressions(imp, "fixed")
    with pytest.raises(ConfigError, match="eval.ratios"):
        split_impressions(imp, "temporal", (0.5, 0.2))
    with pytest.raises(ConfigError, match="eval.split: expected one of"):
        split_impressions(imp, "random")


@pytest.mark.parametrize("how", ["temporal", "day"])
def test_no_history_sees_the_future_or_a_part_it_may_not(world, how):
    """Fails if a history item is not strictly earlier than its impression, or comes from the impression's own
    part or a later one (valid / test never reach training; test sees train + valid; valid sees train)."""
    imp = world.impressions
    labels = split_impressions(imp, how, (0.7, 0.1, 0.2), valid_days=8, test_days=15)  # a 90-day log, in s
    assert (labels == 1).any() and (labels == 2).any()
    records = CtrRecords(imp, labels, world.n_items, history_length=8)
    part_of = {}
    for r in range(labels.size):
        part_of.setdefault((int(imp["user"][r]), int(imp["item"][r]), int(imp["timestamp"][r]), int(imp["click"][r])),
                           set()).add(int(labels[r]))
    allowed = {0: {0}, 1: {0}, 2: {0, 1}}
    seen_test_history = False
    for part, level in (("train", 0), ("valid", 1), ("test", 2)):
        n = 0
        for batch in records.batches(part, 64, torch.Generator().manual_seed(0) if part == "train" else None):
            n += batch["user"].numel()
            for name, click in (("pos", 1), ("neg", 0)):
                items, times, lengths = batch[f"{name}_items"], batch[f"{name}_times"], batch[f"{name}_lengths"]
                for b in range(batch["user"].numel()):
                    k = int(lengths[b])
                    assert (items[b, k:] == world.n_items).all()
                    for j in range(k):
                        assert times[b, j] < batch["time"][b]
                        key = (int(batch["user"][b]), int(items[b, j]), int(times[b, j]), click)
                        assert part_of[key] & allowed[level], (part, key, part_of[key])
                    seen_test_history |= level == 2 and k > 0
        assert n == (labels == level).sum()  # every impression of the part, once
    assert seen_test_history


def test_training_batches_hold_training_impressions_only(world):
    imp = world.impressions
    labels = split_impressions(imp, "temporal")
    records = CtrRecords(imp, labels, world.n_items, history_length=4)
    keys = set()
    for batch in records.batches("train", 50, torch.Generator().manual_seed(1)):
        keys |= {(int(u), int(i), int(t)) for u, i, t in zip(batch["user"], batch["item"], batch["time"])}
    train = {(int(u), int(i), int(t)) for u, i, t in
             zip(imp["user"][labels == 0], imp["item"][labels == 0], imp["timestamp"][labels == 0])}
    assert keys == train


class ItemScore(torch.nn.Module):
    """A click model scoring each impression by a fixed per-item value (enough to check the task's plumbing)."""

    def __init__(self, values):
        super().__init__()
        self.values = torch.nn.Parameter(torch.as_tensor(values, dtype=torch.float32))

    def predict(self, batch):
        return self.values[batch["item"]]


def test_ctr_task_evaluates_every_impression_of_the_part(world):
    from omegaconf import OmegaConf

    from graphrec.evaluation.ctr import ctr_metrics
    from graphrec.tasks.ctr import CtrTask

    imp = world.impressions
    labels = split_impressions(imp, "temporal")
    metrics = ["auc", "user_auc", "logloss", "precision@10", "recall@10", "f1@50"]
    task = CtrTask(OmegaConf.create({"metrics": metrics, "block_size": 37}),
                   CtrRecords(imp, labels, world.n_items, history_length=4), world.name)
    values = np.random.default_rng(0).normal(size=world.n_items)
    got = task.evaluate(ItemScore(values), "test")
    test = labels == 2
    expected = ctr_metrics(imp["user"][test], imp["click"][test], values[imp["item"][test]].astype(np.float32),
                           (10, 50))
    assert {k: got[k] for k in metrics} == pytest.approx({k: expected[k] for k in metrics})
    assert got["n_users"] == np.unique(imp["user"][test]).size
    epochs = task.batches(ItemScore(values), 100)
    assert len(epochs) == -(-int((labels == 0).sum()) // 100) == len(list(epochs.epoch(torch.Generator())))
    with pytest.raises(ConfigError, match=r"'hit@10' is not available with eval.protocol=ctr .*auc"):
        CtrTask(OmegaConf.create({"metrics": ["hit@10"]}), task.records, world.name)
