"""Every registered model on a CUDA device (marked ``cuda``; skipped where no CUDA device is present): a run of one
epoch through the trainer (negatives sampled, batches moved, one optimiser step per batch) and both evaluations,
after which every tensor the model reaches — parameters, feature buffers, graphs and their caches, histories,
initialisations from training records — lives on the model's device.

Run them on a lent accelerator with ``python -m pytest -m cuda``. The walker they rely on is checked here on CPU.
"""

from __future__ import annotations

import dataclasses
import math

import pytest
import torch

from graphrec.models.registry import registered_models

MODELS = registered_models()
WORLD = ["dataset.synthetic.n_users=80", "dataset.synthetic.n_items=150", "dataset.synthetic.interactions_per_user=10"]


def reachable_tensors(obj, path: str = "model", seen: set[int] | None = None) -> dict[str, torch.Tensor]:
    """``{path: tensor}`` for every tensor reachable from ``obj`` through module parameters and buffers, attributes,
    dataclass fields (``SparseGraph``), dicts, lists and tuples."""
    seen = set() if seen is None else seen
    if id(obj) in seen:
        return {}
    seen.add(id(obj))
    if isinstance(obj, torch.Tensor):
        return {path: obj}
    if isinstance(obj, dict):
        items = obj.items()
    elif isinstance(obj, (list, tuple)):
        items = enumerate(obj)
    elif isinstance(obj, torch.nn.Module):
        items = [*obj._parameters.items(), *obj._buffers.items(), *obj._modules.items(),
                 *((k, v) for k, v in vars(obj).items() if not k.startswith("_"))]
    elif dataclasses.is_dataclass(obj) or hasattr(obj, "__dict__") and type(obj).__module__.startswith("graphrec"):
        items = vars(obj).items()
    else:
        return {}
    found: dict[str, torch.Tensor] = {}
    for key, value in items:
        if value is not None:
            found.update(reachable_tensors(value, f"{path}.{key}", seen))
    return found


def misplaced(model: torch.nn.Module, device: torch.device) -> list[str]:
    return [f"{p} on {t.device}" for p, t in reachable_tensors(model).items() if t.device.type != device.type]


def test_the_walker_reaches_graphs_features_and_histories(make_cfg):
    """On CPU: a history model's walk includes its graphs' CSR, its history index and its parameters; a
    multimodal model's its feature buffers; a tensor left on another device is reported."""
    from graphrec.experiment import build_experiment

    nais = build_experiment(make_cfg("model=nais", *WORLD)).model
    paths = reachable_tensors(nais)
    assert any(p.startswith("model.graphs.interactions.crow") for p in paths)
    assert any(p.startswith("model.history.") for p in paths)
    assert any(p.endswith(".weight") or p.endswith(".P") for p in paths)
    mmgcn = build_experiment(make_cfg("model=mmgcn", *WORLD)).model
    assert any(".feat_visual" in p for p in reachable_tensors(mmgcn))
    assert misplaced(mmgcn, torch.device("cpu")) == []
    mmgcn.stray = {"left": torch.zeros(2, device="meta")}
    assert misplaced(mmgcn, torch.device("cpu")) == ["model.stray.left on meta"]


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
@pytest.mark.parametrize("name", sorted(MODELS))
def test_model_trains_and_evaluates_on_the_device(name, make_cfg, tmp_path):
    from graphrec.experiment import build_experiment
    from graphrec.training.run import run_training

    cfg = make_cfg(f"model={name}", *WORLD, "device=cuda", "trainer.epochs=1", "trainer.patience=100")
    results = run_training(cfg, tmp_path / name)
    assert results["device"].startswith("cuda"), results["device"]
    for part in ("valid", "test"):
        assert all(math.isfinite(v) for v in results[part].values()), (name, part, results[part])
    exp = build_experiment(cfg)
    assert exp.device.type == "cuda"
    batch = next(iter(exp.task.batches(exp.model, 32, int(cfg.trainer.n_neg)).epoch(torch.Generator().manual_seed(0))))
    batch = {k: v.to(exp.device) for k, v in batch.items()}
    loss = exp.model.loss(batch)
    loss = sum(loss.values()) if isinstance(loss, dict) else loss
    loss.backward()
    assert misplaced(exp.model, exp.device) == [], name
