"""MTL's Table II rankers (LR, Embedding&MLP, DCN) against plain per-impression references of their equations."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from graphrec.models.ctr.field_ctr import DCN, EMLP, LR

# item -> topic values (item 3 has none); 4 items, 3 topic values
ITEM = torch.tensor([0, 0, 1, 2, 2, 2])
VALUE = torch.tensor([0, 1, 2, 0, 1, 2])
VALUES_OF = {0: [0, 1], 1: [2], 2: [0, 1, 2], 3: []}
BATCH = {"user": torch.tensor([0, 2, 1]), "item": torch.tensor([2, 0, 3]),
         "pos_items": torch.tensor([[0, 1, 4], [3, 4, 4], [4, 4, 4]]),  # 4 = padding
         "pos_lengths": torch.tensor([2, 1, 0]), "pos_times": torch.zeros(3, 3, dtype=torch.long)}
HISTORIES = [[0, 1], [3], []]


def _model(cls, **kw):
    torch.manual_seed(0)
    model = cls(3, 4, item_fields=["topic"], item_field_data={"topic": (ITEM, VALUE, 3)}, **kw)
    with torch.no_grad():  # away from the small initialisation, so every term matters
        for name, p in model.named_parameters():
            if "emb" in name or "user" in name:
                p.normal_()
                if "items.emb" in name:
                    p[4].zero_()  # the padding item
                if "fields" in name:
                    p[3].zero_()  # the padding value
        for name, p in model.named_parameters():
            if name.startswith("cross"):
                p.normal_(std=0.3)
    return model.eval()


def _reference_fields(model) -> list[np.ndarray]:
    """Per impression: [user, item, mean history item, candidate's mean topic, history's mean of item means]."""
    user = model.inputs.user.weight.detach().numpy()
    item = model.inputs.items.emb.weight.detach().numpy()
    topic = model.inputs.fields["topic"].emb.weight.detach().numpy()
    dim = user.shape[1]

    def topic_mean(i):
        return np.mean([topic[v] for v in VALUES_OF[i]], 0) if VALUES_OF[i] else np.zeros(dim)

    out = []
    for b, hist in enumerate(HISTORIES):
        u, i = int(BATCH["user"][b]), int(BATCH["item"][b])
        h_item = np.mean([item[h] for h in hist], 0) if hist else np.zeros(dim)
        h_topic = np.mean([topic_mean(h) for h in hist], 0) if hist else np.zeros(dim)
        out.append(np.stack([user[u], item[i], h_item, topic_mean(i), h_topic]))
    return out


def test_lr_is_a_bias_plus_one_weight_per_active_id_and_value():
    model = _model(LR)
    with torch.no_grad():
        model.bias.fill_(0.7)
    ref = [0.7 + x.sum() for x in _reference_fields(model)]
    assert model.predict(BATCH).detach().numpy() == pytest.approx(ref, rel=1e-5)


def test_emlp_is_its_tower_over_the_concatenated_fields():
    model = _model(EMLP, embedding_dim=4, hidden=(6, 3))
    x = torch.tensor(np.stack([f.reshape(-1) for f in _reference_fields(model)]), dtype=torch.float32)
    ref = model.tower(x).squeeze(-1)
    assert torch.allclose(model.predict(BATCH), ref, rtol=1e-5, atol=1e-6)


def test_dcn_cross_layers_follow_eq3_and_the_output_reads_cross_and_deep():
    model = _model(DCN, embedding_dim=4, cross_layers=2, hidden=(6, 3))
    w = model.cross_w.detach().double().numpy()
    bias = model.cross_b.detach().double().numpy()
    out_w = model.out.weight.detach().double().numpy()[0]
    out_b = float(model.out.bias.detach())
    ref = []
    for fields in _reference_fields(model):
        x0 = fields.reshape(-1).astype(np.float64)
        xl = x0
        for layer in range(w.shape[0]):  # eq. 3: x_{l+1} = x_0 x_lᵀ w_l + b_l + x_l, with the outer product
            xl = np.outer(x0, xl) @ w[layer] + bias[layer] + xl
        deep = torch.relu(model.deep(torch.tensor(x0, dtype=torch.float32)[None])).detach().double().numpy()[0]
        ref.append(out_w @ np.concatenate([xl, deep]) + out_b)
    assert model.predict(BATCH).detach().double().numpy() == pytest.approx(ref, rel=1e-4, abs=1e-5)
