"""PGL: representations against a dense computation, principal subgraphs in training only (30% of the edges,
degree-sensitive), the latent InfoNCE term by hand, and bad settings as ConfigErrors."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from graphrec.errors import ConfigError
from graphrec.losses import info_nce
from graphrec.models.ranking.pgl import PGL
from tests.test_baselines import attach, dense_knn_incl_self, tiny
from tests.test_bm3 import dense_layer_mean


def test_embeddings_match_a_dense_computation_on_the_full_graph_at_evaluation():
    data = tiny(n_users=12, n_items=10, n=60)
    torch.manual_seed(0)
    model = attach(PGL(data.n_users, data.n_items, data.features, embedding_dim=4, knn_k=3), data).eval()
    content = [F.normalize(data.features[m] @ model.content.linear[m].weight.T + model.content.linear[m].bias, dim=1)
               for m in model.modalities]  # acoustic, visual
    items = torch.cat(content, 1)
    out = dense_layer_mean(model.graphs["adj"].to_dense(), torch.cat([model.user_embedding, items]), 2)
    s = 0.9 * dense_knn_incl_self(data.features["acoustic"], 3, True) + \
        0.1 * dense_knn_incl_self(data.features["visual"], 3, True)
    user, item = model.embeddings()
    assert user.shape == (12, 8)
    assert torch.allclose(user, out[:12], atol=1e-5)
    assert torch.allclose(item, out[12:] + s @ items, atol=1e-5)


def test_training_runs_on_a_principal_subgraph():
    data = tiny(n_users=30, n_items=20, n=300)
    torch.manual_seed(0)
    model = attach(PGL(data.n_users, data.n_items, data.features, embedding_dim=4), data)
    model.pre_epoch(1)
    edges = model.graphs["adj"].nnz // 2
    assert model._pruned.nnz == 2 * int(edges * 0.3)
    model.train()
    train_user = model.embeddings()[0]
    model.eval()
    assert not torch.allclose(train_user, model.embeddings()[0])  # evaluation: the full graph
    first = model._pruned.to_dense()
    model.pre_epoch(2)
    assert not torch.equal(first, model._pruned.to_dense())  # re-drawn every epoch


def test_loss_terms():
    data = tiny(n_users=12, n_items=10, n=60)
    torch.manual_seed(1)
    model = attach(PGL(data.n_users, data.n_items, data.features, embedding_dim=4, cl_weight=0.4, dropout=0.0),
                   data).eval()  # no principal subgraph drawn: the full graph, and dropout p = 0
    batch = {"user": torch.tensor([0, 3, 7]), "pos": torch.tensor([1, 2, 9]), "neg": torch.tensor([4, 0, 2])}
    terms = model.loss(batch)
    u, i = model.embeddings()
    ub, ip = u[batch["user"]], i[batch["pos"]]
    diff = (ub * (ip - i[batch["neg"]])).sum(1)
    assert torch.allclose(terms["bpr"], F.softplus(-diff).mean(), atol=1e-6)
    assert torch.allclose(terms["ssl"], 0.4 * 0.5 * (info_nce(ub, ub, 0.2) + info_nce(ip, ip, 0.2)), atol=1e-6)
    assert "ssl" not in attach(PGL(data.n_users, data.n_items, data.features), data).loss(batch)


@pytest.mark.parametrize("kwargs,field", [({"mode": "global"}, "model.mode"), ({"keep_rate": 0.0}, "model.keep_rate")])
def test_bad_settings_are_config_errors(kwargs, field):
    data = tiny()
    with pytest.raises(ConfigError, match=field):
        PGL(data.n_users, data.n_items, data.features, **kwargs)
