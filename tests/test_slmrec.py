"""SLMRec: views, fusion and every loss (main InfoNCE, fine-and-coarse, feature dropout / masking) against
dense computations."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from graphrec.losses import in_batch_softmax, info_nce
from graphrec.models.ranking.slmrec import SLMRec
from tests.test_bm3 import dense_layer_mean
from tests.test_baselines import attach, tiny

BATCH = {"user": torch.tensor([0, 4, 7, 2]), "pos": torch.tensor([2, 9, 5, 5])}


def dense_views(model: SLMRec, data, hide: int | None = None) -> list[torch.Tensor]:
    adj = model.graphs["adj"].to_dense()
    e = model.embedding.detach()
    inputs = [e[data.n_users:]] + [model.project[m](F.normalize(data.features[m], dim=1)) for m in model.modalities]
    return [dense_layer_mean(adj, torch.cat([e[: data.n_users], torch.zeros_like(x) if k == hide else x]),
                             model.n_layers) for k, x in enumerate(inputs)]


def dense_fused(model: SLMRec, views: list[torch.Tensor], n_users: int):
    table = torch.cat(views, 1)
    return model.fuse_users(table[:n_users]), model.fuse_items(table[n_users:])


def build(**kw):
    data = tiny(n_users=12, n_items=10, n=60)
    torch.manual_seed(0)
    model = SLMRec(data.n_users, data.n_items, data.features, embedding_dim=6, n_layers=2, **kw)
    attach(model, data)
    return model, data


def test_main_and_fine_and_coarse_losses():
    model, data = build(ssl_weight=0.5, ssl_temperature=0.3, temperature=0.2)
    terms = model.loss(BATCH)
    views = dense_views(model, data)
    users, items = dense_fused(model, views, data.n_users)
    assert torch.allclose(model.score(torch.arange(data.n_users)), users @ items.T, atol=1e-5)
    assert torch.allclose(terms["infonce"], info_nce(users[BATCH["user"]], items[BATCH["pos"]], 0.2), atol=1e-6)
    # visual meets the ID chain at d (fine), acoustic one step further at d / 2 (coarse)
    assert model.fac_order == ["visual", "acoustic"]
    assert [layer.out_features for layer in model.chain] == [6, 3]
    nu, it = data.n_users, BATCH["pos"]
    by = dict(zip(model.modalities, views[1:]))
    z1 = model.chain[0](views[0][nu + it])
    z2 = model.chain[1](z1)
    fac = in_batch_softmax(z1, model.meet["visual"](by["visual"][nu + it]), 0.3) + \
        in_batch_softmax(z2, model.meet["acoustic"](by["acoustic"][nu + it]), 0.3)
    assert torch.allclose(terms["ssl"], 0.5 * fac, atol=1e-5)


def test_feature_masking_hides_one_view_per_pass(monkeypatch):
    model, data = build(ssl_task="fm", ssl_temperature=0.5)
    monkeypatch.setattr(torch, "randperm", lambda n, **kw: torch.tensor([0, 2]))  # pass 1 hides IDs, 2 visual
    got = model.two_pass_contrast(BATCH["user"], BATCH["pos"])
    (u1, i1), (u2, i2) = (dense_fused(model, dense_views(model, data, hide), data.n_users) for hide in (0, 2))
    assert model.modalities[1] == "visual"
    expected = info_nce(u1[BATCH["user"]], u2[BATCH["user"]], 0.5) + info_nce(i1[BATCH["pos"]], i2[BATCH["pos"]], 0.5)
    assert torch.allclose(got, expected, atol=1e-5)


def test_feature_dropout_passes_differ_only_by_dropout():
    model, data = build(ssl_task="fd", dropout=0.0, ssl_temperature=0.5)
    users, items = dense_fused(model, dense_views(model, data), data.n_users)
    same = info_nce(users[BATCH["user"]], users[BATCH["user"]], 0.5) + \
        info_nce(items[BATCH["pos"]], items[BATCH["pos"]], 0.5)
    assert torch.allclose(model.two_pass_contrast(BATCH["user"], BATCH["pos"]), same, atol=1e-5)
    model.dropout = 0.5
    torch.manual_seed(1)
    assert model.two_pass_contrast(BATCH["user"], BATCH["pos"]) > same + 0.05
