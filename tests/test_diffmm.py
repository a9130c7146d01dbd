"""DiffMM: the diffusion schedule, loss and generation by hand; aggregation and contrast against dense
computations; the denoisers learn users' rows; generated graphs, dropout and optimiser state survive a checkpoint."""

from __future__ import annotations

import io
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from graphrec.errors import ConfigError
from graphrec.losses import bpr_loss
from graphrec.models.layers.diffusion import GaussianDiffusion
from graphrec.models.ranking.diffmm import DiffMM
from tests.test_baselines import attach, dense_bipartite, tiny


def small_model(data, **kw) -> DiffMM:
    torch.manual_seed(0)
    options = dict(embedding_dim=6, denoiser_dims=[7], diffusion_batch_size=5)
    options.update(kw)
    return attach(DiffMM(data.n_users, data.n_items, data.features, **options), data)


def test_schedule_matches_a_hand_computation():
    d = GaussianDiffusion(steps=3, noise_scale=0.1, noise_min=1e-4, noise_max=0.02)
    v = np.array([1e-5, (1e-5 + 2e-3) / 2, 2e-3])
    betas = np.array([1e-4, 1 - (1 - v[1]) / (1 - v[0]), 1 - (1 - v[2]) / (1 - v[1])])  # β₀ fixed to 1e-4
    bar = np.cumprod(1 - betas)
    prev = np.concatenate([[1.0], bar[:-1]])
    assert np.allclose(d.alpha_bar.numpy(), bar, rtol=1e-12)
    assert np.allclose(d.mean_coef_x0.numpy(), betas * np.sqrt(prev) / (1 - bar), rtol=1e-12)
    assert np.allclose(d.mean_coef_xt.numpy(), (1 - prev) * np.sqrt(1 - betas) / (1 - bar), rtol=1e-12)
    snr = bar / (1 - bar)
    w = d.snr_weight(torch.tensor([0, 1, 2])).numpy()
    assert np.allclose(w, [1.0, snr[0] - snr[1], snr[1] - snr[2]], rtol=1e-6)


def test_training_loss_and_generation_by_hand():
    x0 = torch.tensor([[1.0, 0.0, 1.0], [0.0, 1.0, 0.0]])
    one_step = GaussianDiffusion(steps=1)  # t is always 0: weight 1
    weighted, predicted = one_step.training_loss(lambda x, t: torch.zeros_like(x), x0)
    assert torch.allclose(weighted, torch.tensor([2 / 3, 1 / 3])) and torch.equal(predicted, torch.zeros_like(x0))
    d = GaussianDiffusion(steps=4)
    c = 0.7  # a linear "denoiser" f(x, t) = c x: each step scales x by c·c₁(t) + c₂(t)
    out = d.generate(lambda x, t, input_dropout: c * x, x0)
    factor = math.prod(c * float(d.mean_coef_x0[t]) + float(d.mean_coef_xt[t]) for t in range(4))
    assert torch.allclose(out, factor * x0, rtol=1e-5)


def test_diffusion_losses_add_the_signal_injection_term(monkeypatch):
    data = tiny()
    model = small_model(data, msi_weight=0.3)
    x0 = dense_bipartite(data)[:4]
    predicted = torch.rand(4, data.n_items)
    monkeypatch.setattr(model.diffusion, "training_loss", lambda denoiser, x: (torch.full((4,), 0.25), predicted))
    item_ids = torch.randn(data.n_items, 6)
    feats = {m: torch.randn(data.n_items, 6) for m in model.modalities}
    losses = model.diffusion_losses(x0, item_ids, feats)
    for m in model.modalities:
        msi = ((predicted @ feats[m] - x0 @ item_ids) ** 2).mean()
        assert losses[m].item() == pytest.approx(0.25 + 0.3 * msi.item(), rel=1e-5)


def dense_reference(model: DiffMM, data) -> tuple[torch.Tensor, dict]:
    """Aggregation and views of the module docstring with dense matrices (eval mode: undropped G_m)."""
    nu, ni = data.n_users, data.n_items
    r = dense_bipartite(data)
    a = torch.zeros(nu + ni, nu + ni)
    a[:nu, nu:], a[nu:, :nu] = r, r.T
    a = a + torch.eye(nu + ni)
    adj = a / torch.sqrt(a.sum(1, keepdim=True) * a.sum(0, keepdim=True))
    ego = torch.cat([model.user_embedding, model.item_embedding]).detach()
    weights = torch.softmax(model.modal_weight.detach(), 0)
    fused, views = 0, {}
    for k, m in enumerate(model.modalities):
        g = torch.zeros(nu + ni, nu + ni)
        items = getattr(model, f"generated_{m}")
        for u in range(nu):
            for i in items[u]:
                g[u, nu + i] = g[nu + i, u] = 1.0
        g = g + torch.eye(nu + ni)
        g = g / torch.sqrt(g.sum(1, keepdim=True) * g.sum(0, keepdim=True))
        f = F.normalize(model.project(m).detach(), dim=1)
        h = adj @ torch.cat([ego[:nu], f])
        h = h + adj @ torch.cat([h[:nu], ego[nu:]])
        h = h + model.ris_adj_lambda * (g @ ego)
        fused = fused + weights[k] * h
        v = g @ torch.cat([ego[:nu], f])
        views[m] = v + adj @ v  # one layer
    final = fused + adj @ fused + model.ris_lambda * F.normalize(fused, dim=1)
    return final, views


def test_aggregation_and_views_match_dense_computations():
    data = tiny(n_users=7, n_items=6, n=25)
    model = small_model(data, rebuild_k=2).eval()
    with torch.no_grad():
        model.generate()
        final, views = model.forward_main(), model.forward_views()
        ref_final, ref_views = dense_reference(model, data)
    assert torch.allclose(final, ref_final, atol=1e-5)
    for m in model.modalities:
        assert torch.allclose(views[m], ref_views[m], atol=1e-5)
    generated = model.generated_visual
    assert generated.shape == (7, 2) and bool((generated[:, 0] != generated[:, 1]).all())  # top-2, distinct


def test_loss_terms_by_hand():
    data = tiny(n_users=7, n_items=6, n=25)
    model = small_model(data, reg_weight=1e-2, ssl_weight=0.5, temperature=0.4).eval()  # eval: undropped graphs
    batch = {"user": torch.tensor([0, 3, 3]), "pos": torch.tensor([1, 2, 5]), "neg": torch.tensor([4, 0, 2])}
    out = model.loss(batch)
    final, views = dense_reference(model, data)
    nu = data.n_users
    u, i, j = final[batch["user"]], final[nu + batch["pos"]], final[nu + batch["neg"]]
    assert out["bpr"].item() == pytest.approx(bpr_loss((u * i).sum(1), (u * j).sum(1)).item(), rel=1e-5)
    reg = model.user_embedding.pow(2).sum() + model.item_embedding.pow(2).sum()
    assert out["reg"].item() == pytest.approx(1e-2 * reg.item(), rel=1e-6)

    def nce(a, b, nodes):  # mean over nodes of −log softmax over all rows of b, cosines / τ
        a, b = F.normalize(a, dim=1), F.normalize(b, dim=1)
        return sum(-torch.log_softmax(a[n] @ b.T / 0.4, 0)[n] for n in nodes.tolist()) / len(nodes)

    expected = sum(nce(final[:nu], views[m][:nu], batch["user"]) + nce(final[nu:], views[m][nu:], batch["pos"])
                   for m in model.modalities)
    assert out["cl"].item() == pytest.approx(0.5 * expected.item(), rel=1e-5)
    pairwise = small_model(data, contrast="modalities", ssl_weight=1.0, temperature=0.4).eval().loss(batch)["cl"]
    va, vb = (views[m] for m in model.modalities)
    by_hand = nce(va[:nu], vb[:nu], batch["user"]) + nce(va[nu:], vb[nu:], batch["pos"])
    assert pairwise.item() == pytest.approx(by_hand.item(), rel=1e-5)


def test_denoisers_learn_to_regenerate_users_training_items():
    """After training, most users' generated item is one of their own training items (chance: about 1 in 8:
    5 training items of 40 per user on average)."""
    data = tiny(n_users=30, n_items=40, n=150, seed=1)
    model = small_model(data, denoiser_dims=[32], diffusion_batch_size=10, diffusion_lr=1e-2, msi_weight=0.0)
    r = dense_bipartite(data)

    def hit_rate():
        model.generate()
        return r.gather(1, model.generated_visual).mean().item()

    before = hit_rate()
    losses = [model.train_denoisers() for _ in range(60)]
    assert losses[-1] < 0.5 * losses[0]
    assert before < 0.3 and hit_rate() > 0.6  # 0.07 -> 0.73 when written


def test_training_uses_the_epochs_dropped_graphs_and_evaluation_the_generated_ones():
    data = tiny()
    model = small_model(data, keep_rate=0.5).train()
    model.pre_epoch(1)
    dropped, generated = model.modality_graphs(), model.generated_graphs()
    for m in model.modalities:
        kept = dropped[m].values != 0
        assert 0 < int(kept.sum()) < dropped[m].nnz
        assert torch.allclose(dropped[m].values[kept], 2.0 * generated[m].values[kept])  # scaled by 1/ρ
    model.eval()
    assert model.modality_graphs() is generated


def test_a_checkpoint_restores_generated_graphs_and_the_denoisers_optimiser():
    data = tiny()
    model = small_model(data).train()
    model.pre_epoch(1)
    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    buffer.seek(0)
    state = torch.load(buffer, weights_only=True)
    fresh = small_model(data)
    torch.manual_seed(5)
    fresh.load_state_dict(state)
    for m in model.modalities:
        assert torch.equal(getattr(fresh, f"generated_{m}"), getattr(model, f"generated_{m}"))
    saved, restored = model.diffusion_optimizer.state_dict(), fresh.diffusion_optimizer.state_dict()
    assert saved["state"].keys() == restored["state"].keys() and saved["state"]
    assert all(torch.equal(saved["state"][k]["exp_avg"], restored["state"][k]["exp_avg"]) for k in saved["state"])
    model.eval(), fresh.eval()
    users = torch.arange(data.n_users)
    assert torch.equal(model.score(users), fresh.score(users))


@pytest.mark.parametrize("field,value", [("contrast", "both"), ("projection", "mlp"), ("keep_rate", 0.0),
                                         ("rebuild_k", 0), ("sampling_steps", 9)])
def test_bad_settings_name_the_field(field, value):
    data = tiny()
    with pytest.raises(ConfigError, match=f"model.{field}"):
        DiffMM(data.n_users, data.n_items, data.features, **{field: value})


def test_bf16_denoisers_generate_nearly_the_same_items():
    data = tiny(n_users=30, n_items=40, n=150, seed=1)
    model = small_model(data, denoiser_dims=[32], diffusion_batch_size=10, diffusion_lr=1e-2, msi_weight=0.0)
    for _ in range(30):
        model.train_denoisers()
    model.generate()
    exact = model.generated_visual.clone()
    model.diffusion_bf16 = True
    model.generate()
    assert (model.generated_visual == exact).float().mean() > 0.8
    before = {k: v.clone() for k, v in model.denoisers.state_dict().items()}
    assert math.isfinite(model.train_denoisers())
    assert all(v.dtype == torch.float32 and not torch.equal(v, before[k])
               for k, v in model.denoisers.state_dict().items() if k.endswith("weight"))
