"""MMGCF: every fusion × weighting against a dense computation, the loss terms by hand, edge dropout in training
only, and bad settings as ConfigErrors."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from graphrec.errors import ConfigError
from graphrec.models.ranking.mmgcf import MMGCF
from tests.test_baselines import attach, tiny
from tests.test_bm3 import dense_layer_mean


def dense_item_fusion(model: MMGCF, item: torch.Tensor, data) -> torch.Tensor:
    content = [data.features[m] @ model.content.linear[m].weight.T + model.content.linear[m].bias
               for m in model.modalities]
    if model.weighting == "alpha":
        a = torch.sigmoid(model.alpha_logit)
        parts = [a * item] + [(1 - a) * f for f in content]
    elif model.weighting == "normalized":
        parts = [2 * item / item.norm(dim=1, keepdim=True)] + [f / f.norm(dim=1, keepdim=True) for f in content]
    else:
        if model.fusion == "concat":
            fused = torch.cat(content, 1) @ model.mix_modalities.weight.T + model.mix_modalities.bias
        else:
            fused = sum(content) / (2 if model.fusion == "mean" else 1)
        parts = [item, fused]
    if model.fusion == "concat":
        return torch.cat(parts, 1) @ model.mix_all.weight.T + model.mix_all.bias
    return sum(parts) / (len(parts) if model.fusion == "mean" else 1)


@pytest.mark.parametrize("fusion", ["mean", "sum", "concat"])
@pytest.mark.parametrize("weighting", ["equal", "alpha", "normalized"])
def test_embeddings_match_a_dense_computation(fusion, weighting):
    data = tiny(n_users=12, n_items=10, n=60)
    torch.manual_seed(0)
    model = attach(MMGCF(data.n_users, data.n_items, data.features, embedding_dim=4, n_ui_layers=2,
                         fusion=fusion, weighting=weighting), data)
    if weighting == "alpha":
        with torch.no_grad():
            model.alpha_logit.fill_(0.7)  # the gate must matter
    model.eval()
    out = dense_layer_mean(model.graphs["adj"].to_dense(), model.embedding.detach(), 2)
    user, item = model.embeddings()
    assert torch.allclose(user, out[:12], atol=1e-5)
    assert torch.allclose(item, dense_item_fusion(model, out[12:], data), atol=1e-5)


def test_loss_terms_and_dropout_in_training_only():
    data = tiny(n_users=12, n_items=10, n=60)
    torch.manual_seed(1)
    model = attach(MMGCF(data.n_users, data.n_items, data.features, embedding_dim=4, reg_weight=0.3,
                         dropout=0.5), data)
    batch = {"user": torch.tensor([0, 3, 7]), "pos": torch.tensor([1, 2, 9]), "neg": torch.tensor([4, 0, 2])}
    model.pre_epoch(1)
    model.train()
    terms = model.loss(batch)
    u, i = model.embeddings()
    diff = (u[batch["user"]] * (i[batch["pos"]] - i[batch["neg"]])).sum(1)
    assert torch.allclose(terms["bpr"], F.softplus(-diff).mean(), atol=1e-6)
    e = model.embedding
    ref = (e[batch["user"]].pow(2).sum() + e[12 + batch["pos"]].pow(2).sum() + e[12 + batch["neg"]].pow(2).sum()) / 6
    assert torch.allclose(terms["reg"], 0.3 * ref, atol=1e-7)
    # the pruned graph keeps half the user–item edges and is used in training only
    assert model._pruned.nnz == 2 * (model.graphs["adj"].nnz // 2 // 2)
    model.eval()
    assert not torch.allclose(model.embeddings()[0], u)


@pytest.mark.parametrize("kwargs,field", [({"fusion": "max"}, "model.fusion"), ({"weighting": "x"}, "model.weighting"),
                                          ({"dropout": 1.0}, "model.dropout")])
def test_bad_settings_are_config_errors(kwargs, field):
    data = tiny()
    with pytest.raises(ConfigError, match=field):
        MMGCF(data.n_users, data.n_items, data.features, **kwargs)
