"""One training job: build the experiment, fit with early stopping, test once at the best checkpoint,
write ``results.json``. Called by ``graphrec train`` for each Hydra job."""

from __future__ import annotations

import logging
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig, OmegaConf

from graphrec.data.sampler import NegativeSampler, TrainingBatches
from graphrec.errors import ConfigError, GraphrecError
from graphrec.experiment import build_experiment
from graphrec.training.checkpoint import load_checkpoint, write_json
from graphrec.training.loggers import ConsoleLogger, CSVLogger, Logger, LoggerGroup, WandbLogger
from graphrec.training.trainer import Trainer, TrainerConfig, TrainState

log = logging.getLogger("graphrec")

# config keys that may differ between an interrupted run and its resumption
_RESUME_IGNORED = ("trainer.resume", "trainer.progress", "logger", "hydra")


@dataclass
class JobInfo:
    """Where a job sits in a Hydra run or sweep (for loggers)."""

    name: str = "train"
    group: str | None = None


def build_loggers(lcfg: DictConfig, run_dir: Path, job: JobInfo) -> LoggerGroup:
    loggers: list[Logger] = [ConsoleLogger(), CSVLogger(run_dir / "metrics.csv")]
    kind = lcfg.get("kind", "default")
    if kind == "wandb":
        loggers.append(WandbLogger(run_dir, project=lcfg.project, mode=lcfg.mode, entity=lcfg.get("entity"),
                                   group=lcfg.get("group") or job.group, name=lcfg.get("name") or job.name,
                                   tags=list(lcfg.get("tags") or [])))
    elif kind != "default":
        raise ConfigError(f"logger.kind: expected 'default' or 'wandb', got '{kind}'")
    return LoggerGroup(loggers)


def _comparable(config: dict) -> dict:
    cfg = OmegaConf.create(config)
    for key in _RESUME_IGNORED:
        parent, _, leaf = key.rpartition(".")
        node = OmegaConf.select(cfg, parent) if parent else cfg
        if node is not None and leaf in node:
            node.pop(leaf)
    return OmegaConf.to_container(cfg)


def find_resumable(run_dir: Path, config: dict, search_roots: list[Path]) -> Path | None:
    """``last.pt`` of this run dir, else of the newest unfinished run with the same config."""
    own = run_dir / "checkpoints" / "last.pt"
    if own.is_file():
        return own
    wanted = _comparable(config)
    candidates = []
    for root in search_roots:
        if root.is_dir():
            candidates += [p for p in root.glob("**/checkpoints/last.pt") if not (p.parent.parent / "results.json").exists()]
    for path in sorted(set(candidates), key=lambda p: p.stat().st_mtime, reverse=True):
        if path.parent.parent.resolve() == run_dir.resolve():
            continue
        try:
            saved = load_checkpoint(path).get("config")
        except GraphrecError:
            continue
        if saved is not None and _comparable(saved) == wanted:
            return path
    return None


def run_training(cfg: DictConfig, run_dir: str | Path, job: JobInfo | None = None,
                 on_epoch_end: Callable[[TrainState], None] | None = None) -> dict[str, Any]:
    """Train, select on validation, test once at the best checkpoint; returns (and writes) ``results.json``."""
    total_start = time.perf_counter()
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    job = job or JobInfo()
    config = OmegaConf.to_container(cfg, resolve=True)
    exp = build_experiment(cfg)
    model, tcfg = exp.model, cfg.trainer
    train_u, train_i = exp.train_pairs
    sampler = NegativeSampler(exp.csr["train"])
    batches = TrainingBatches(train_u, train_i, sampler, int(tcfg.batch_size),
                              int(model.n_negatives or tcfg.n_neg), model.sampling)
    trainer_cfg = TrainerConfig(**{k: v for k, v in OmegaConf.to_container(tcfg, resolve=True).items()
                                   if k in TrainerConfig.__dataclass_fields__})
    valid_metric = cfg.eval.valid_metric
    if exp.has_valid() and valid_metric not in cfg.eval.metrics:
        raise ConfigError(f"eval.valid_metric: '{valid_metric}' is not among eval.metrics {list(cfg.eval.metrics)}")
    loggers = build_loggers(cfg.logger, run_dir, job)
    trainer = Trainer(model, batches, trainer_cfg, (lambda m: exp.evaluate("valid")) if exp.has_valid() else None,
                      valid_metric, run_dir / "checkpoints", loggers, seed=int(cfg.seed),
                      extra_state={"config": config}, on_epoch_end=on_epoch_end)
    resume = tcfg.get("resume", False)
    if resume:
        path = Path(resume) if isinstance(resume, str) else find_resumable(
            run_dir, config, [Path.cwd() / "outputs", Path.cwd() / "multirun", run_dir.parent.parent])
        if path is None:
            log.warning("trainer.resume: no interrupted run with this config was found; starting afresh")
        else:
            path = path / "checkpoints" / "last.pt" if path.is_dir() else path
            if path.parent != run_dir / "checkpoints":
                shutil.copytree(path.parent, run_dir / "checkpoints", dirs_exist_ok=True)
            trainer.resume(run_dir / "checkpoints" / "last.pt")
            csv = loggers.csv()
            if csv is not None:
                csv.restore(trainer.state.history)
            log.info(f"resuming from {path} after epoch {trainer.state.epoch}")
    loggers.start(config)
    try:
        state = trainer.fit()
        best = load_checkpoint(trainer.best_path, map_location=exp.device)
        model.load_state_dict(best["model"])
        test = exp.evaluate("test")
        results = {
            "model": cfg.model.get("name", type(model).__name__.lower()),
            "dataset": exp.dataset.name,
            "seed": int(cfg.seed),
            "device": str(exp.device),
            "protocol": exp.split.protocol,
            "best_epoch": int(state.best_epoch),
            "epochs_run": int(state.epoch),
            "stopped_early": bool(state.stopped_early),
            "num_parameters": int(model.num_parameters()),
            "split_counts": exp.split.counts(),
            "timing": {
                "graph_build_s": round(exp.graph_build_s, 4),
                "train_s_per_epoch": round(sum(state.train_seconds) / max(len(state.train_seconds), 1), 4),
                "eval_s": round(sum(state.eval_seconds) / max(len(state.eval_seconds), 1), 4),
                "test_eval_s": round(test.pop("eval_s", 0.0), 4),
                "total_s": 0.0,
            },
            "valid": {k: v for k, v in state.best_valid.items() if "@" in k or k == "auc"},
            "test": {k: v for k, v in test.items() if "@" in k or k == "auc"},
            "test_users": {"evaluated": test.get("n_users", 0), "skipped": test.get("n_users_skipped", 0)},
        }
        results["timing"]["total_s"] = round(time.perf_counter() - total_start, 3)
        write_json(results, run_dir / "results.json")
        loggers.log_results(results)
    finally:
        loggers.finish()
    return results
