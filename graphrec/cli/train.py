"""``graphrec train [overrides]``: a Hydra app (``-m`` for multirun). Every job's config is composed and checked
before Hydra makes a run dir; under torchrun the ranks join one process group and agree on one run dir."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

from graphrec.cli.args import fail, one_line, quoted
from graphrec.cli.hydra_app import (RUN_STAMP, Terminated, raise_terminated, register_resolvers,
                                   remove_run_dir)
from graphrec.configs import conf_dir
from graphrec.errors import GraphrecError


def _quote_resume(argv: list[str]) -> list[str]:
    """``trainer.resume=<path>`` with the path quoted, so a multirun job dir (``0-model=mf,seed=0``) is one value."""
    out = []
    for arg in argv:
        key, sep, value = arg.partition("=")
        if key.lstrip("+") == "trainer.resume" and sep and value not in ("true", "false", "True", "False") \
                and not (len(value) > 1 and value[0] == value[-1] and value[0] in "'\""):
            value = quoted(value)
        out.append(f"{key}{sep}{value}")
    return out


def _job_overrides(argv: list[str]) -> list[list[str]]:
    """Override lists to check before Hydra runs: the first job of a sweep, then each other value of each
    swept key (with the rest at their first value), at most 64 in all."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    try:
        parsed = OverridesParser.create().parse_overrides([a for a in argv if not a.startswith("-")])
    except Exception as exc:
        fail(f"cannot parse overrides: {one_line(exc)}")
    choices: list[list[str]] = []
    for o in parsed:
        if o.is_hydra_override():
            continue
        if o.is_sweep_override():
            prefix = o.input_line.split(o.key_or_group, 1)[0]  # keeps '+' / '~'
            choices.append([f"{prefix}{o.key_or_group}={v}" for v in o.sweep_string_iterator()])
        else:
            choices.append([o.input_line])
    first = [c[0] for c in choices]
    jobs = [first] + [first[:i] + [v] + first[i + 1:] for i, c in enumerate(choices) for v in c[1:]]
    return jobs[:64]


def _check_overrides(argv: list[str]) -> list[str]:
    """Compose and check the configs of the jobs before Hydra runs, so a bad override or value is one clear
    line and no run dir is made. Returns extra overrides: a single run resumed in place gets its old run dir;
    under torchrun, what ``_join_torchrun`` adds."""
    from hydra import compose, initialize_config_dir
    from omegaconf import OmegaConf

    from graphrec.training.checks import check_run_config
    from graphrec.training.run import find_resumable, resume_target

    configs = []
    jobs = _job_overrides(argv)
    hydra_overrides = [a for a in argv if not a.startswith("-") and a.lstrip("+~").startswith(("hydra.", "hydra/"))]
    with initialize_config_dir(config_dir=conf_dir(), version_base="1.3"):
        for overrides in jobs:
            try:
                cfg = compose("config", overrides=overrides)
            except Exception as exc:
                fail(one_line(exc))
            check_run_config(cfg)
            configs.append(cfg)
        if hydra_overrides:  # hydra.* values (hydra.sweeper.n_trials=abc) are one line too
            try:
                compose("config", overrides=jobs[0] + hydra_overrides, return_hydra_config=True)
            except Exception as exc:
                fail(one_line(exc))
    multirun = any(a in ("-m", "--multirun") for a in argv)
    joined = _join_torchrun(argv, str(configs[0].trainer.get("distributed", "auto")))
    resume = configs[0].trainer.get("resume", False)
    if multirun or not resume or any(a.startswith("hydra.run.dir=") for a in argv):
        return joined
    config = OmegaConf.to_container(configs[0], resolve=True)
    if isinstance(resume, str):
        target = resume_target(resume, None, config)
    else:
        target = find_resumable(None, config, [Path.cwd() / "outputs", Path.cwd() / "multirun"])
    return joined + ([] if target is None else [f"hydra.run.dir={quoted(str(target))}"])


def _join_torchrun(argv: list[str], mode: str) -> list[str]:
    """Under torchrun: join the process group and agree on one run dir (rank 0's start time); the other ranks
    write neither Hydra's ``.hydra/`` nor its log file and log warnings only. Returns their extra overrides.
    Multirun under torchrun is refused (each job is its own torchrun; sweeps go to a cluster launcher)."""
    import os
    import time

    from graphrec import distributed as ddp

    if not ddp.launched_by_torchrun():
        ddp.init(mode)  # trainer.distributed=ddp without torchrun: the ConfigError says how to launch
        return []
    if mode == "none":
        return []
    if any(a in ("-m", "--multirun") for a in argv):
        fail("-m under torchrun: launch each job with torchrun, or send a sweep to a cluster with "
              "hydra/launcher=slurm")
    rank = ddp.init(mode)
    os.environ[RUN_STAMP] = str(ddp.broadcast_object(time.time()))
    if rank.is_main:
        return []
    logging.getLogger("graphrec").setLevel(logging.WARNING)
    return ["hydra.output_subdir=null", "hydra/job_logging=stdout"]


def _check_sweeper(argv: list[str]) -> None:
    """``search=<model>`` (an Optuna space) needs ``-m`` and the sweeper plugin: say so in one line."""
    optuna = [a for a in argv if a.startswith("search=") or a == "hydra/sweeper=optuna"]
    if not optuna:
        return
    if not any(a in ("-m", "--multirun") for a in argv):
        fail(f"{optuna[0]}: a search runs as a multirun; add -m")
    try:
        import hydra_plugins.hydra_optuna_sweeper  # noqa: F401
    except ImportError:
        fail(f"{optuna[0]}: Optuna sweeps need the sweeper plugin: pip install 'graphrec[sweep]'")
    _plain_optuna_logs()


def _plain_optuna_logs() -> None:
    """Optuna's own log handler writes ANSI colours even into files and pipes: plain lines there. Its storage
    layer (alembic) announces each of its plugins at INFO: quiet."""
    logging.getLogger("alembic").setLevel(logging.WARNING)
    if sys.stderr.isatty():
        return
    import optuna

    optuna.logging.disable_default_handler()
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("[%(levelname)1.1s %(asctime)s] %(message)s"))
    logging.getLogger("optuna").addHandler(handler)


def main(argv: list[str]) -> None:
    import hydra
    from hydra.core.hydra_config import HydraConfig
    from omegaconf import DictConfig

    from graphrec import distributed as ddp
    from graphrec.training.run import JobInfo, run_training

    @hydra.main(config_path=conf_dir(), config_name="config", version_base="1.3")
    def task(cfg: DictConfig) -> float | None:
        hc = HydraConfig.get()
        run_dir = Path(hc.runtime.output_dir)
        multirun = str(hc.mode) == "RunMode.MULTIRUN"
        job = JobInfo(name=hc.job.override_dirname or hc.job.name,
                      group=Path(hc.sweep.dir).name if multirun else None)
        main_rank = ddp.context().is_main
        try:
            results = run_training(cfg, run_dir, job)
        except GraphrecError as exc:
            if main_rank and not (run_dir / "checkpoints").exists():  # failed before training: no half-made dir
                remove_run_dir(run_dir)
                sweep = Path(hc.sweep.dir) if multirun else None
                if sweep is not None and sweep.is_dir() and {e.name for e in sweep.iterdir()} <= {"multirun.yaml"}:
                    remove_run_dir(sweep)  # the sweep's first job failed: no empty sweep dir
            fail(str(exc))
        except (KeyboardInterrupt, Terminated) as exc:
            stopped = "terminated (SIGTERM)" if isinstance(exc, Terminated) else "interrupted"
            if main_rank:
                print(f"graphrec: {stopped}; continue with trainer.resume=true (checkpoints in {run_dir})",
                      file=sys.stderr)
            sys.exit(143 if isinstance(exc, Terminated) else 130)
        if main_rank:
            print(f"run dir: {run_dir}")
        return results["valid"].get(cfg.eval.valid_metric) if results["valid"] else None

    _check_sweeper(argv)
    argv = _quote_resume(argv)
    register_resolvers()
    if not any(a in ("-h", "--help", "--hydra-help", "--info", "-i", "--cfg", "-c") for a in argv):
        argv = argv + _check_overrides(argv)
    sys.argv = [f"{sys.argv[0]} train"] + argv
    import signal

    signal.signal(signal.SIGTERM, raise_terminated)
    with ddp.leaving_group():
        task()
