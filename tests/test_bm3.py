"""BM3: each loss term against a dense hand computation, the predictor-side scores, and no negatives."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from graphrec.data.sampler import NegativeSampler, TrainingBatches
from graphrec.graphs.store import TrainingGraphInput
from graphrec.models.layers.bootstrap import dropout_view
from graphrec.models.ranking.bm3 import BM3
from tests.test_baselines import attach, tiny


def dense_layer_mean(adj: torch.Tensor, ego: torch.Tensor, n_layers: int) -> torch.Tensor:
    layers, x = [ego], ego
    for _ in range(n_layers):
        x = adj @ x
        layers.append(x)
    return torch.stack(layers).mean(0)


def one_minus_cos(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return 1 - F.cosine_similarity(a, b, dim=-1).mean()


def test_loss_terms_match_a_dense_computation():
    data = tiny()
    torch.manual_seed(0)
    model = BM3(data.n_users, data.n_items, data.features, embedding_dim=6, n_layers=2, dropout=0.0,
                reg_weight=0.3, cl_weight=1.5)
    attach(model, data)
    batch = {"user": torch.tensor([0, 3, 5, 3]), "pos": torch.tensor([1, 2, 7, 0])}
    terms = model.loss(batch)

    adj, e = model.graphs["adj"].to_dense(), model.embedding.detach()
    h = dense_layer_mean(adj, e, 2)
    h_users, h_items = h[: data.n_users], h[data.n_users:] + e[data.n_users:]
    pred = model.predictor
    hu, hi = h_users[batch["user"]], h_items[batch["pos"]]
    # with p = 0 the target views equal the online ones
    assert torch.allclose(terms["rec"], one_minus_cos(pred(hu), hi) + one_minus_cos(pred(hi), hu), atol=1e-6)
    align = mask = 0.0
    for m in ("acoustic", "visual"):
        lin = model.content.linear[m]
        h_m = data.features[m][batch["pos"]] @ lin.weight.T + lin.bias
        align = align + one_minus_cos(pred(h_m), hi)
        mask = mask + one_minus_cos(pred(h_m), h_m)
    assert torch.allclose(terms["align"], 1.5 * align, atol=1e-6)
    assert torch.allclose(terms["mask"], 1.5 * mask, atol=1e-6)
    reg = 0.3 * (h_users.norm() + h_items.norm()) / data.n_items
    assert torch.allclose(terms["reg"], reg, atol=1e-6)


def test_scores_pass_both_sides_through_the_predictor():
    data = tiny()
    model = BM3(data.n_users, data.n_items, data.features, embedding_dim=6, n_layers=1)
    attach(model, data)
    e = model.embedding.detach()
    h = dense_layer_mean(model.graphs["adj"].to_dense(), e, 1)
    users, items = model.predictor(h[: data.n_users]), model.predictor(h[data.n_users:] + e[data.n_users:])
    assert torch.allclose(model.score(torch.arange(data.n_users)), users @ items.T, atol=1e-5)


def test_target_views_drop_latents_and_carry_no_gradient():
    x = torch.randn(400, 50, requires_grad=True)
    view = dropout_view(x, 0.3)
    assert not view.requires_grad
    zeros = (view == 0).float().mean().item()
    assert abs(zeros - 0.3) < 0.03
    kept = view != 0
    assert torch.allclose(view[kept], x.detach()[kept] / 0.7)


def two_camp_world(seed: int = 0) -> TrainingGraphInput:
    """Users of even id interact with even items only, odd with odd: a structure a ranker must find."""
    g = torch.Generator().manual_seed(seed)
    n_users, n_items = 40, 30
    user = torch.randint(0, n_users, (300,), generator=g)
    item = torch.randint(0, n_items // 2, (300,), generator=g) * 2 + user % 2
    feats = {"visual": torch.randn(n_items, 5, generator=g), "acoustic": torch.randn(n_items, 3, generator=g)}
    return TrainingGraphInput(user, item, n_users, n_items, feats)


def camp_auc(model, data: TrainingGraphInput) -> float:
    """P(s_ui > s_uj) over users u, items i of u's camp and j of the other camp."""
    with torch.no_grad():
        scores = model.score(torch.arange(data.n_users))
    same = (torch.arange(data.n_users)[:, None] % 2) == (torch.arange(data.n_items)[None] % 2)
    wins = (scores.unsqueeze(2) > scores.unsqueeze(1)) & same.unsqueeze(2) & ~same.unsqueeze(1)
    return float(wins.sum() / (same.sum(1) * (~same).sum(1)).sum())


def train_on_positives(model, data: TrainingGraphInput, epochs: int = 10) -> None:
    """Adam over ``positive`` batches: asserts that every batch holds users and positives only."""
    batches = TrainingBatches(data.user, data.item, None, batch_size=64, kind=model.sampling)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    for epoch in range(epochs):
        model.pre_epoch(epoch + 1)
        for batch in batches.epoch(torch.Generator().manual_seed(epoch)):
            assert set(batch) == {"user", "pos"}
            loss = sum(model.loss(batch).values())
            opt.zero_grad()
            loss.backward()
            opt.step()


def test_trains_without_negatives(monkeypatch):
    """BM3 is fed no negatives, none is ever sampled, and it still ranks a planted structure."""
    def refuse(*args, **kwargs):
        raise AssertionError("a negative was sampled")

    monkeypatch.setattr(NegativeSampler, "sample", refuse)
    data = two_camp_world()
    torch.manual_seed(0)
    model = BM3(data.n_users, data.n_items, data.features, embedding_dim=16)
    attach(model, data)
    before = camp_auc(model, data)
    train_on_positives(model, data)
    after = camp_auc(model, data)
    assert before < 0.7 and after > 0.95, (before, after)
