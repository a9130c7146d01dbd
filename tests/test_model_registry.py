"""Every registered model (each ``conf/model/*.yaml``, ``graphrec.models.registry``) on a small synthetic world:
it builds under the protocol its config selects, one optimiser step gives a finite loss and finite parameters,
its scores (ranking) or logits (click-through) have the right shapes, and a checkpoint re-evaluates to the same
metrics through ``graphrec evaluate``'s path. No model list is kept by hand: a new config is tested by existing."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from omegaconf import OmegaConf

from graphrec.checkpoints import save_checkpoint
from graphrec.configs import conf_dir, model_configs
from graphrec.models.registry import FAMILIES, current_target, registered_models, resolve_model_class

MODELS = registered_models()
WORLD = ["dataset.synthetic.n_users=80", "dataset.synthetic.n_items=150", "dataset.synthetic.interactions_per_user=10"]


def _total(out) -> torch.Tensor:
    return sum(out.values()) if isinstance(out, dict) else out


def test_every_model_config_is_registered_with_a_family_and_a_task():
    assert set(MODELS) == {p.stem for p in (Path(conf_dir()) / "model").glob("*.yaml")}
    for name, entry in MODELS.items():
        assert entry.family in FAMILIES, (name, entry.cls.__module__)
        assert entry.task == ("ctr" if entry.family == "ctr" else "ranking"), name
        assert entry.config.eval_preset == {"ctr": "ctr", "ranking": entry.config.eval_preset}[entry.task]


def test_every_model_has_a_search_space():
    missing = [n for n in MODELS if not (Path(conf_dir()) / "search" / f"{n}.yaml").is_file()]
    assert not missing, f"conf/search/<model>.yaml missing for {missing}"


def test_targets_of_the_flat_layout_still_resolve():
    """Configs and checkpoints saved before models were grouped by family name ``graphrec.models.<module>``."""
    from graphrec.models.ranking.lightgcn import LightGCN
    from graphrec.models.ctr.mtin import MTIN

    assert resolve_model_class("graphrec.models.lightgcn.LightGCN") is LightGCN
    assert resolve_model_class("graphrec.models.mtin.MTIN") is MTIN
    assert current_target("graphrec.models.ctr.mtin.MTIN") == "graphrec.models.ctr.mtin.MTIN"
    for config in model_configs().values():  # every current target is already current
        assert current_target(config.target) == config.target


@torch.no_grad()
def _outputs(model, task: str, batch: dict, n_items: int) -> list[torch.Tensor]:
    """Scores of three users over every item and over one item each (ranking), or a batch's logits (ctr)."""
    if task == "ranking":
        users, items = torch.tensor([0, 3, 7]), torch.tensor([1, 2, 5])
        full, some = model.score(users), model.score(users, items)
        assert full.shape == (3, n_items) and torch.isfinite(full).all()
        assert some.shape == (3,) and torch.allclose(some, full[torch.arange(3), items], atol=1e-5)
        return [full, some]
    logits = model.predict(batch)
    assert logits.shape == batch["item"].shape and torch.isfinite(logits).all()
    return [logits]


@pytest.mark.parametrize("name", sorted(MODELS))
def test_model_steps_scores_and_round_trips(name, make_cfg, tmp_path):
    from graphrec.experiment import build_experiment
    from graphrec.inference import evaluate_checkpoint, load_run

    cfg = make_cfg(f"model={name}", *WORLD)
    exp = build_experiment(cfg)
    model = exp.model.train()
    batches = exp.task.batches(model, 32, int(cfg.trainer.n_neg))
    batch = next(iter(batches.epoch(torch.Generator().manual_seed(0))))
    optimiser = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    loss = _total(model.loss(batch))
    assert math.isfinite(float(loss.detach())), name
    loss.backward()
    optimiser.step()
    for pname, p in model.named_parameters():
        assert torch.isfinite(p).all(), (name, pname)

    model.eval()
    outputs = _outputs(model, MODELS[name].task, batch, exp.dataset.n_items)

    metrics = {part: exp.evaluate(part) for part in ("valid", "test")}
    path = tmp_path / "best.pt"
    save_checkpoint({"model": model.state_dict(), "config": OmegaConf.to_container(cfg, resolve=True),
                     "dataset_fingerprint": exp.dataset_fingerprint}, path)
    reloaded = load_run(path)
    for before, after in zip(outputs, _outputs(reloaded.model, MODELS[name].task, batch, exp.dataset.n_items)):
        assert torch.equal(before, after), name
    again = evaluate_checkpoint(path)
    for part in ("valid", "test"):
        for metric in cfg.eval.metrics:
            assert again[part][metric] == pytest.approx(metrics[part][metric], abs=1e-6), (name, part, metric)
