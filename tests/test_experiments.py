"""Experiment presets (conf/experiment/): each composes, names the README row it reproduces with figures that
are in the READMEs, and its model instantiates and trains a step on the small synthetic world."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from graphrec.training.checks import check_run_config
from graphrec.configs import conf_dir
from tests.conftest import SMALL_WORLD

ROOT = Path(__file__).resolve().parents[1]
PRESETS = sorted(str(p.relative_to(ROOT / "conf" / "experiment").with_suffix(""))
                 for p in (ROOT / "conf" / "experiment").rglob("*.yaml") if p.stem != "common")
DATASETS = {"tiktok": "tiktok", "ml100k": "ml100k", "ml-latest-small": "ml-latest-small", "kuairand": "kuairand-likehate"}
# config defaults (IRIS: eval=iris is its own; MGCN, SLMRec, SMORE: the config won on validation)
DEFAULT_ROWS = {"mf_tiktok", "mgcn_tiktok", "slmrec_tiktok", "smore_tiktok", "loo/iris_ml100k",
                "loo/iris_ml-latest-small"}
README_TEXT = (ROOT / "README.md").read_text() + (ROOT / "benchmarks" / "README.md").read_text()


def _compose(*overrides: str):
    with initialize_config_dir(config_dir=conf_dir(), version_base="1.3"):
        return compose("config", overrides=list(overrides))


def test_there_is_a_preset_for_every_reference_table():
    assert {"lightgcn_tiktok", "mf_tiktok", "huign_tiktok", "a2bm2gl_tiktok", "a2bm2gl_ml100k", "lightgcn_ml100k",
            "loo/iris_ml100k", "loo/gmf_ml-latest-small", "ctr/mtin_kuairand", "ctr/ncf_ctr_ml100k"} <= set(PRESETS)
    assert len([p for p in PRESETS if p.startswith("loo/")]) == 14 and len([p for p in PRESETS if p.startswith("ctr/")]) == 27


@pytest.mark.parametrize("preset", PRESETS)
def test_preset_composes_for_its_model_and_dataset_and_cites_reported_figures(preset):
    cfg = _compose(f"experiment={preset}")
    model, dataset = Path(preset).name.rsplit("_", 1)
    assert cfg.model.name == model
    assert cfg.dataset.name == DATASETS[dataset]
    defaults = _compose(f"model={model}", f"dataset={DATASETS[dataset]}")
    text = (ROOT / "conf" / "experiment" / f"{preset}.yaml").read_text()
    figures = re.findall(r"0\.\d{4}", "\n".join(line for line in text.splitlines() if line.startswith("#")))
    assert figures and all(f in README_TEXT for f in figures), f"{preset}: figures not in the READMEs"
    missing = OmegaConf.missing_keys(cfg)
    assert all(k.startswith("model.pretrained_") for k in missing), missing
    if not missing:
        check_run_config(cfg)
    # a preset changes the defaults, except for the rows measured with config defaults
    assert (OmegaConf.to_yaml(cfg) == OmegaConf.to_yaml(defaults)) == (preset in DEFAULT_ROWS), preset


def _distinct_model_setups() -> list[str]:
    seen, out = set(), []
    for preset in PRESETS:
        cfg = _compose(f"experiment={preset}")
        key = OmegaConf.to_yaml(cfg.model) + OmegaConf.to_yaml(cfg.eval)
        if key not in seen:
            seen.add(key)
            out.append(preset)
    return out


@pytest.mark.parametrize("preset", _distinct_model_setups())
def test_preset_model_instantiates_and_trains_a_step(preset, tmp_path):
    from graphrec.experiment import build_experiment

    base = _compose(f"experiment={preset}")
    fill = [f"model.{k.split('.', 1)[1]}=null" for k in OmegaConf.missing_keys(base)]  # pre-training: from scratch
    cfg = _compose(f"experiment={preset}", "dataset=synthetic", *SMALL_WORLD, *fill, f"data_root={tmp_path}",
                   "graph_cache=false")
    exp = build_experiment(cfg)
    batches = exp.task.batches(exp.model, 64, int(cfg.trainer.n_neg))
    batch = next(iter(batches.epoch(torch.Generator().manual_seed(0))))
    out = exp.model.loss(batch)
    loss = sum(out.values()) if isinstance(out, dict) else out
    assert torch.isfinite(loss)
    loss.backward()
