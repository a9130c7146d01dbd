"""One training job: build the experiment, fit with early stopping, test once at the best checkpoint,
write ``results.json``. Called by ``graphrec train`` for each Hydra job.

Resume (``trainer.resume``) continues an interrupted run in place, in its own run dir: ``true`` finds it (this
job's dir, else the newest unfinished run with the same config under ``outputs/`` or ``multirun/``); a path
names it (the run dir, its ``checkpoints/`` or ``last.pt``). A run whose config differs is refused, naming the
keys that differ; temporary files a kill left behind are removed first.

Under torchrun (``graphrec.distributed``) every rank runs this job in the same run dir: rank 0 builds the
graphs (into the cache) before the others load them, and alone writes checkpoints, ``metrics.csv``, W&B and
``results.json``; evaluation is sharded over the ranks.
"""

from __future__ import annotations

import logging
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from graphrec import distributed as ddp
from graphrec.training.checks import check_run_config
from graphrec.errors import ConfigError, GraphrecError
from graphrec.evaluation.metrics import metric_values
from graphrec.experiment import Experiment, build_experiment
from graphrec.provenance import flatten, provenance, result_config
from graphrec.checkpoints import load_checkpoint, write_json
from graphrec.training.loggers import ConsoleLogger, CSVLogger, Logger, LoggerGroup, WandbLogger
from graphrec.training.trainer import Trainer, TrainState

log = logging.getLogger("graphrec")

# what Hydra writes into a run dir before the job starts (besides its <job>.log)
_HYDRA_ONLY = (".hydra",)


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


# ---------------------------------------------------------------------------------------------------- resume


# keys added to the packaged config after runs were saved without them, with the value those runs had implicitly:
# resuming such a run with the key at that value is no difference
ADDED_KEYS = {"eval.test_each_epoch": False}


def config_differences(saved: dict, wanted: dict) -> list[str]:
    """``key: saved → wanted`` for every result-relevant key that differs (``ADDED_KEYS`` at their implicit value
    when a config lacks them)."""
    a, b = flatten(result_config(saved)), flatten(result_config(wanted))
    for flat in (a, b):
        for key, value in ADDED_KEYS.items():
            flat.setdefault(key, value)
    return [f"{k}: {a.get(k, '(absent)')!r} → {b.get(k, '(absent)')!r}" for k in sorted(set(a) | set(b))
            if a.get(k, "(absent)") != b.get(k, "(absent)")]


def run_dir_of(path: str | Path) -> Path:
    """The run dir a resume path names: the run dir itself, its ``checkpoints/`` or a checkpoint file."""
    path = Path(path).expanduser()
    if path.is_file():
        path = path.parent
    return path.parent if path.name == "checkpoints" else path


def _saved_config(run_dir: Path) -> dict | None:
    try:
        return load_checkpoint(run_dir / "checkpoints" / "last.pt").get("config")
    except GraphrecError:
        return None


def _unfinished(run_dir: Path) -> bool:
    return (run_dir / "checkpoints" / "last.pt").is_file() and not (run_dir / "results.json").exists()


def find_resumable(run_dir: Path | None, config: dict, search_roots: list[Path]) -> Path | None:
    """This run dir when it holds an unfinished run, else the newest unfinished run dir with the same config."""
    if run_dir is not None and _unfinished(run_dir):
        return run_dir
    found = {p.parent.parent.resolve() for root in search_roots if root.is_dir()
             for p in root.glob("**/checkpoints/last.pt")}
    for candidate in sorted(found, key=lambda d: (d / "checkpoints" / "last.pt").stat().st_mtime, reverse=True):
        if _unfinished(candidate):
            saved = _saved_config(candidate)
            if saved is not None and not config_differences(saved, config):
                return candidate
    return None


def resume_target(resume: bool | str, run_dir: Path | None, config: dict) -> Path | None:
    """The run dir to continue in (None: start afresh), checked against ``config``."""
    if not resume:
        return None
    if isinstance(resume, str):
        target = run_dir_of(resume)
        if not (target / "checkpoints" / "last.pt").is_file():
            raise ConfigError(f"trainer.resume: {target} holds no checkpoints/last.pt (not an interrupted run dir)")
        if (target / "results.json").exists():
            raise ConfigError(f"trainer.resume: {target} has finished (it has results.json); nothing to resume")
    else:
        cwd = Path.cwd()
        roots = [cwd / "outputs", cwd / "multirun"] + ([run_dir.parent.parent] if run_dir is not None else [])
        target = find_resumable(run_dir, config, roots)
        if target is None:
            log.warning("trainer.resume: no interrupted run with this config was found; starting afresh")
            return None
    saved = _saved_config(target)
    if saved is None:
        raise ConfigError(f"trainer.resume: {target / 'checkpoints' / 'last.pt'} carries no config")
    differences = config_differences(saved, config)
    if differences:
        raise ConfigError(f"trainer.resume: {target} was trained with a different config ("
                          + "; ".join(differences[:5]) + (f"; and {len(differences) - 5} more" if len(differences) > 5
                                                          else "") + ")")
    return target.resolve()


def _remove_leftovers(run_dir: Path) -> None:
    """Temporary files of writes a kill interrupted (``.<name>.<random>``, see ``graphrec.atomic``)."""
    for folder in (run_dir, run_dir / "checkpoints"):
        for tmp in folder.glob(".*.*"):
            if tmp.is_file() and tmp.name.split(".")[1] in ("last", "best", "results", "metrics"):
                tmp.unlink()
                log.info(f"removed {tmp}, left by an interrupted write")


def _move_into(target: Path, run_dir: Path) -> Path:
    """Continue in ``target``; the fresh dir Hydra made for this job is removed when it holds nothing else."""
    if run_dir.resolve() != target and run_dir.is_dir():
        if all(e.name in _HYDRA_ONLY or e.suffix == ".log" for e in run_dir.iterdir()):
            shutil.rmtree(run_dir, ignore_errors=True)
    return target


# ---------------------------------------------------------------------------------------------------- training


def build_experiment_once(cfg: DictConfig, rank: ddp.Context) -> Experiment:
    """``build_experiment``; under torchrun rank 0 first, so the graphs are built once (into the graph cache)
    and the other ranks load them."""
    if not rank.enabled:
        return build_experiment(cfg)
    if not cfg.get("graph_cache", True):
        log.warning("graph_cache=false under torchrun: every rank builds its own graphs")
    if not rank.is_main:
        ddp.barrier()
    exp = build_experiment(cfg)
    if rank.is_main:
        ddp.barrier()
    return exp



def _at_epoch(state: TrainState, epoch: int, key: str) -> int:
    """``key`` of the history row of ``epoch`` (0 when absent)."""
    return int(next((row.get(key, 0) for row in state.history if row.get("epoch") == epoch), 0))


def best_test_epoch(history: list[dict[str, Any]], metric: str, higher_is_better: bool) -> dict[str, Any] | None:
    """The papers' figure (DiffMM's / MMSSL's ``Main.py``): the epoch whose *test* ``metric`` was best, with all
    its test metrics. Reported beside the validation-selected test figure to show how much that protocol inflates;
    None when no epoch was tested (``eval.test_each_epoch`` off)."""
    key = f"test/{metric}"
    tested = [row for row in history if key in row]
    if not tested:
        return None
    best = (max if higher_is_better else min)(tested, key=lambda row: row[key])  # the first of equals
    return {"epoch": int(best["epoch"]), "selected_by": key,
            **{k.removeprefix("test/"): v for k, v in best.items() if k.startswith("test/")}}


def run_training(cfg: DictConfig, run_dir: str | Path, job: JobInfo | None = None,
                 on_epoch_end: Callable[[TrainState], None] | None = None) -> dict[str, Any]:
    """Train, select on validation, test once at the best checkpoint; returns (and writes) ``results.json``."""
    total_start = time.perf_counter()
    trainer_cfg = check_run_config(cfg)
    run_dir = Path(run_dir)
    job = job or JobInfo()
    config = OmegaConf.to_container(cfg, resolve=True)
    rank = ddp.context()
    target = resume_target(cfg.trainer.get("resume", False), run_dir, config)
    if target is not None:
        run_dir = _move_into(target, run_dir) if rank.is_main else target
        if rank.is_main:
            _remove_leftovers(run_dir)
    if rank.is_main:
        run_dir.mkdir(parents=True, exist_ok=True)
    exp = build_experiment_once(cfg, rank)
    model, tcfg = exp.model, cfg.trainer
    batches = exp.task.batches(model, int(tcfg.batch_size), int(tcfg.n_neg))
    log.info(f"training: {len(batches):,} batches of {int(tcfg.batch_size):,} per epoch, up to "
             f"{trainer_cfg.epochs} epochs, run dir {run_dir}")
    valid_metric = cfg.eval.valid_metric
    loggers = build_loggers(cfg.logger, run_dir, job) if rank.is_main else LoggerGroup([])
    extra_state = {"config": config, "dataset_fingerprint": exp.dataset_fingerprint}
    trainer = Trainer(model, batches, trainer_cfg, (lambda m: exp.evaluate("valid")) if exp.has_valid() else None,
                      valid_metric, run_dir / "checkpoints", loggers, seed=int(cfg.seed),
                      valid_higher_is_better=exp.task.metric_directions[valid_metric],
                      extra_state=extra_state, on_epoch_end=on_epoch_end,
                      observe=(lambda m: exp.evaluate("test")) if cfg.eval.get("test_each_epoch", False) else None)
    if target is not None:
        trainer.resume(trainer.last_path)
        csv = loggers.csv()
        if csv is not None:
            csv.restore(trainer.state.history)
        log.info(f"resuming in {run_dir} after epoch {trainer.state.epoch}")
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
            **exp.task.results(test),  # protocol, split counts, what the test judged
            "best_epoch": int(state.best_epoch),
            "epochs_run": int(state.epoch),
            "stopped_early": bool(state.stopped_early),
            "num_parameters": int(model.num_parameters()),
            "timing": {
                "graph_build_s": round(exp.prepare_s, 4),
                "train_s_per_epoch": round(sum(state.train_seconds) / max(len(state.train_seconds), 1), 4),
                "eval_s": round(sum(state.eval_seconds) / max(len(state.eval_seconds), 1), 4),
                "test_eval_s": round(test.get("eval_s", 0.0), 4),
                "total_s": 0.0,
            },
            "valid": dict(state.best_valid),
            "test": metric_values(test),
            "metric_directions": {m: ("higher" if up else "lower") for m, up in exp.task.metric_directions.items()},
            "nonfinite_scores": {"valid": _at_epoch(state, state.best_epoch, "valid_nonfinite"),
                                 "test": int(test.get("n_nonfinite", 0))},
            "provenance": provenance(config, exp.dataset_fingerprint),
        }
        papers_figure = best_test_epoch(state.history, valid_metric, exp.task.metric_directions[valid_metric])
        if papers_figure is not None:
            results["best_test_epoch"] = papers_figure
        if rank.enabled:
            results["distributed"] = {"backend": ddp.backend(), "world_size": rank.world_size}
        results["timing"]["total_s"] = round(time.perf_counter() - total_start, 3)
        if rank.is_main:
            write_json(results, run_dir / "results.json")
        loggers.log_results(results)
    finally:
        loggers.finish()
    return results
