"""What the Hydra-run verbs (``train``, ``topics``) share: the resolvers their configs use (run dir names, the
metric direction, an atomically claimed run dir), SIGTERM as a clean stop, and removing a run dir a failed job made."""

from __future__ import annotations

import shutil
from pathlib import Path


def job_dirname(num: int, overrides: str, limit: int = 96) -> str:
    """A multirun job's folder name: ``<num>-<overrides>``, with '/' of group paths (``experiment=ctr/din_ml100k``)
    as '.', and overrides longer than ``limit`` cut and suffixed by their hash (an Optuna trial's many float
    overrides exceed the file-name limit)."""
    import hashlib

    name = overrides.replace("/", ".")
    if len(name) > limit:
        name = f"{name[:limit - 9]}-{hashlib.sha1(overrides.encode()).hexdigest()[:8]}"
    return f"{num}-{name}" if name else str(num)


RUN_STAMP = "GRAPHREC_RUN_STAMP"  # rank 0's start time (epoch seconds), shared with the ranks under torchrun


def run_time(fmt: str) -> str:
    """``${run_time:%H-%M-%S}`` in a run dir's name: the local time now, or ``$GRAPHREC_RUN_STAMP`` when set
    (under torchrun every rank names the same run dir)."""
    import os
    import time

    stamp = os.environ.get(RUN_STAMP)
    return time.strftime(fmt, time.localtime(float(stamp) if stamp else time.time()))


def register_resolvers() -> None:
    from omegaconf import OmegaConf

    from graphrec import run_dirs
    from graphrec.evaluation.metrics import optuna_direction

    run_dirs.reset()  # each command claims its own run dir
    OmegaConf.register_new_resolver("metric_direction", optuna_direction, replace=True)
    OmegaConf.register_new_resolver("job_dirname", job_dirname, replace=True)
    OmegaConf.register_new_resolver("run_time", run_time, replace=True)
    OmegaConf.register_new_resolver("claim_dir", run_dirs.claim_dir, replace=True, use_cache=True)


class Terminated(BaseException):
    """SIGTERM (a scheduler's preemption, ``kill``): stop like Ctrl-C, saying how to resume."""


def raise_terminated(signum, frame) -> None:
    raise Terminated()


def remove_run_dir(run_dir: Path) -> None:
    """Remove a run dir a failed job made, and the folders above it that it leaves empty (up to the cwd)."""
    shutil.rmtree(run_dir, ignore_errors=True)
    cwd = Path.cwd().resolve()
    for parent in run_dir.resolve().parents:
        if parent == cwd or cwd not in parent.parents:
            break
        try:
            parent.rmdir()  # only when empty
        except OSError:
            break
