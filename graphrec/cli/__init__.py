"""The ``graphrec`` command: ``train | evaluate | recommend | data | graphs``.

``train`` is a Hydra app (``-m`` for multirun); ``evaluate`` and ``recommend`` take ``key=value`` arguments;
``data`` has ``prepare``, ``list`` and ``info``. User errors print one line and exit with status 2.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import sys
import warnings
from pathlib import Path

from graphrec.configs import conf_dir
from graphrec.errors import GraphrecError

USAGE = """usage: graphrec <command> [args]

commands:
  train [overrides]                      train a model (Hydra: model=, dataset=, trainer.*, eval.*, logger=, -m)
  evaluate checkpoint=<path> [format=json]   re-evaluate a saved run on its dataset and split
  recommend checkpoint=<path> users=[..] k=<k> [format=json] [exclude=none|train|train+valid|all]
  data prepare <format> <source> --name <name>   import a dataset (formats: mmrec, mmgcn, diffmm, movielens, kuairand, microvideo,
                                                 kuairec-captions, recbole)
  data list | data info <name>           prepared datasets in $GRAPHREC_DATA
  viz intents checkpoint=<path>          items drawn by learned intents (PCA, top-level colours) -> PNG
  viz scores checkpoint=<path> users=[..]  per-user score distributions with learned boundaries -> PNG
  viz groups checkpoint=<path> [users=[..]]  MTIN interest-group attention over time + mask decay -> PNG
  viz curves checkpoint=<path>           learning curves (loss terms, validation metrics, best epoch) -> PNG
  report <multirun or outputs dir> [out=<dir>]   one table of the runs (seeds aggregated, valid-best ★), PNG
  export checkpoint=<path> out=<dir> [max_k=100]   a self-contained, checksummed artefact for serving
  serve export=<dir> [host=127.0.0.1] [port=8000] [index=exact|flat|hnsw]   HTTP top-K service ([serve] extra)
  topics fit|assign|report [overrides]   MTL topic pipeline: MMoE + tag DeepWalk + k-means -> topic ids,
                                         topic queues, representation / ranker tables (Hydra, conf/topics.yaml)
  graphs info dataset=<name> graph=<kind> [graph.<param>=<v>]   build one graph, print its statistics
                                         (kinds: {graph_kinds})
"""


def graph_kinds() -> str:
    """The graph builders' names, from their registry (the one list every usage text shows)."""
    from graphrec.graphs.store import BUILDERS

    return ", ".join(BUILDERS)


def _fail(message: str) -> None:
    print(f"graphrec: error: {message}", file=sys.stderr)
    sys.exit(2)


def _one_line(exc: Exception) -> str:
    """Hydra's multi-line composition errors as one line (message, then the key or the options)."""
    text = str(exc) + ("\n" + str(exc.__cause__) if exc.__cause__ is not None else "")
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    lines = [ln for ln in lines if not ln.startswith(("Config search path", "provider=", "Set the environment",
                                                      "To append", "full_key", "object_type"))]
    if any(ln.startswith("Available options") for ln in lines):
        at = next(i for i, ln in enumerate(lines) if ln.startswith("Available options"))
        return f"{lines[0]} ({lines[at].rstrip(':').lower()}: {', '.join(lines[at + 1:])})"
    return " ".join(lines[:2]) if lines else type(exc).__name__


def _quoted(value: str) -> str:
    """A Hydra override value that stays one string whatever it holds ('=', ',', quotes)."""
    return "'" + value.replace("'", "\\'") + "'"


def _quote_resume(argv: list[str]) -> list[str]:
    """``trainer.resume=<path>`` with the path quoted, so a multirun job dir (``0-model=mf,seed=0``) is one value."""
    out = []
    for arg in argv:
        key, sep, value = arg.partition("=")
        if key.lstrip("+") == "trainer.resume" and sep and value not in ("true", "false", "True", "False") \
                and not (len(value) > 1 and value[0] == value[-1] and value[0] in "'\""):
            value = _quoted(value)
        out.append(f"{key}{sep}{value}")
    return out


def _job_overrides(argv: list[str]) -> list[list[str]]:
    """Override lists to check before Hydra runs: the first job of a sweep, then each other value of each
    swept key (with the rest at their first value), at most 64 in all."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    try:
        parsed = OverridesParser.create().parse_overrides([a for a in argv if not a.startswith("-")])
    except Exception as exc:
        _fail(f"cannot parse overrides: {_one_line(exc)}")
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
                _fail(_one_line(exc))
            check_run_config(cfg)
            configs.append(cfg)
        if hydra_overrides:  # hydra.* values (hydra.sweeper.n_trials=abc) are one line too
            try:
                compose("config", overrides=jobs[0] + hydra_overrides, return_hydra_config=True)
            except Exception as exc:
                _fail(_one_line(exc))
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
    return joined + ([] if target is None else [f"hydra.run.dir={_quoted(str(target))}"])


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


def _register_resolvers() -> None:
    from omegaconf import OmegaConf

    from graphrec import run_dirs
    from graphrec.evaluation.metrics import optuna_direction

    run_dirs.reset()  # each command claims its own run dir
    OmegaConf.register_new_resolver("metric_direction", optuna_direction, replace=True)
    OmegaConf.register_new_resolver("job_dirname", job_dirname, replace=True)
    OmegaConf.register_new_resolver("run_time", run_time, replace=True)
    OmegaConf.register_new_resolver("claim_dir", run_dirs.claim_dir, replace=True, use_cache=True)


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
        _fail("-m under torchrun: launch each job with torchrun, or send a sweep to a cluster with "
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
        _fail(f"{optuna[0]}: a search runs as a multirun; add -m")
    try:
        import hydra_plugins.hydra_optuna_sweeper  # noqa: F401
    except ImportError:
        _fail(f"{optuna[0]}: Optuna sweeps need the sweeper plugin: pip install 'graphrec[sweep]'")
    _plain_optuna_logs()


class Terminated(BaseException):
    """SIGTERM (a scheduler's preemption, ``kill``): stop like Ctrl-C, saying how to resume."""


def _raise_terminated(signum, frame) -> None:
    raise Terminated()


def _remove_run_dir(run_dir: Path) -> None:
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


def _train(argv: list[str]) -> None:
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
                _remove_run_dir(run_dir)
                sweep = Path(hc.sweep.dir) if multirun else None
                if sweep is not None and sweep.is_dir() and {e.name for e in sweep.iterdir()} <= {"multirun.yaml"}:
                    _remove_run_dir(sweep)  # the sweep's first job failed: no empty sweep dir
            _fail(str(exc))
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
    _register_resolvers()
    if not any(a in ("-h", "--help", "--hydra-help", "--info", "-i", "--cfg", "-c") for a in argv):
        argv = argv + _check_overrides(argv)
    sys.argv = [f"{sys.argv[0]} train"] + argv
    import signal

    signal.signal(signal.SIGTERM, _raise_terminated)
    with ddp.leaving_group():
        task()


def _export(argv: list[str]) -> None:
    from graphrec.serving.export import export_run

    args = _kv_args(argv, {"checkpoint", "out", "max_k", "device", "overwrite"}, {"checkpoint", "out"})
    max_k = args.get("max_k", 100)
    if not isinstance(max_k, int) or isinstance(max_k, bool):
        _fail(f"max_k: expected a positive integer, got '{max_k}'")
    out = export_run(args["checkpoint"], args["out"], max_k, args.get("device"), bool(args.get("overwrite", False)))
    print(f"exported to {out}")


def _serve(argv: list[str]) -> None:
    args = _kv_args(argv, {"export", "host", "port", "index", "ef_search"}, {"export"})
    port = args.get("port", 8000)
    if not isinstance(port, int) or isinstance(port, bool) or not 0 <= port < 65536:
        _fail(f"port: expected an integer 0..65535, got '{port}'")
    try:
        import uvicorn

        from graphrec.serving.app import create_app, service_from_export
    except ImportError:
        _fail("graphrec serve needs the optional packages: pip install \"graphrec[serve]\"")
    service = service_from_export(args["export"], str(args.get("index", "exact")), int(args.get("ef_search", 128)))
    host = str(args.get("host", "127.0.0.1"))
    _check_port_free(host, port)
    print(f"serving {service.art.manifest.get('model')} on {service.art.manifest.get('dataset')} "
          f"({service.index_name}) at http://{host}:{port}", flush=True)
    uvicorn.run(create_app(service), host=host, port=port, log_level="warning")


def _check_port_free(host: str, port: int) -> None:
    """One line before "serving ... at" when the address cannot be bound (in use, or not this machine's)."""
    import socket

    try:
        family = socket.getaddrinfo(host, port)[0][0]
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds
            probe.bind((host, port))
    except OSError as exc:
        _fail(f"port: cannot listen on {host}:{port} ({exc.strerror or exc}); choose another port=")


TOPIC_STAGES = ("fit", "assign", "report")


def _topics(argv: list[str]) -> None:
    """``graphrec topics <stage> [overrides]``: one Hydra run of a pipeline stage (``graphrec.topics``)."""
    if not argv or argv[0] not in TOPIC_STAGES:
        _fail("usage: graphrec topics fit|assign|report [overrides] (see conf/topics.yaml)")
    import hydra
    from hydra.core.hydra_config import HydraConfig
    from omegaconf import DictConfig

    from graphrec.topics import STAGES

    stage, rest = argv[0], argv[1:]
    if any(a.startswith("stage=") for a in rest):
        _fail("stage is set by the command (graphrec topics fit|assign|report)")

    @hydra.main(config_path=conf_dir(), config_name="topics", version_base="1.3")
    def task(cfg: DictConfig) -> None:
        run_dir = Path(HydraConfig.get().runtime.output_dir)
        try:
            STAGES[stage](cfg, run_dir)
        except GraphrecError as exc:
            if not (run_dir / "results.json").exists():
                _remove_run_dir(run_dir)
            _fail(str(exc))
        print(f"run dir: {run_dir}")

    if not any(a in ("-h", "--help", "--hydra-help", "--info", "-i", "--cfg", "-c", "-m", "--multirun") for a in rest):
        from hydra import compose, initialize_config_dir

        from graphrec.topics.settings import check_topics_config

        with initialize_config_dir(config_dir=conf_dir(), version_base="1.3"):
            try:  # a bad override is one line before any run dir exists
                composed = compose("topics", overrides=[f"stage={stage}", *rest])
            except Exception as exc:
                _fail(_one_line(exc))
        check_topics_config(composed, stage)  # and so is a bad value or a missing input
    sys.argv = [f"{sys.argv[0]} topics {stage}", f"stage={stage}"] + rest
    _register_resolvers()
    task()


def _kv_args(argv: list[str], allowed: set[str], required: set[str]) -> dict:
    from omegaconf import OmegaConf

    bad = [a for a in argv if "=" not in a]
    if bad:
        _fail(f"expected key=value arguments, got '{bad[0]}'")
    try:
        args = OmegaConf.to_container(OmegaConf.from_dotlist(argv))
    except Exception as exc:
        _fail(f"cannot parse arguments: {exc}")
    unknown = set(args) - allowed
    if unknown:
        _fail(f"unknown argument '{sorted(unknown)[0]}' (allowed: {', '.join(sorted(allowed))})")
    missing = required - set(args)
    if missing:
        _fail(f"missing argument '{sorted(missing)[0]}=...'")
    for key in PATH_ARGS & set(args):  # checkpoint=5 names a folder "5"; checkpoint= names nothing
        value = args[key]
        if value is None or value == "" or isinstance(value, (list, dict, bool)):
            _fail(f"{key}: expected a path, got {'nothing' if value in (None, '') else repr(value)}")
        args[key] = str(value)
    return args


PATH_ARGS = {"checkpoint", "out", "export"}  # key=value arguments that name a file or folder


def _evaluate(argv: list[str]) -> None:
    from graphrec.evaluation.metrics import metric_values
    from graphrec.inference import evaluate_checkpoint

    from graphrec import distributed as ddp

    args = _kv_args(argv, {"checkpoint", "device", "format"}, {"checkpoint"})
    if args.get("format", "text") not in ("text", "json"):
        _fail(f"format: expected text or json, got '{args['format']}'")
    rank = ddp.init("auto")  # under torchrun: evaluation sharded by user blocks over the ranks
    with ddp.leaving_group():
        results = evaluate_checkpoint(args["checkpoint"], args.get("device"))
    if not rank.is_main:
        return
    if args.get("format") == "json":
        print(json.dumps({part: {k: v for k, v in m.items() if k != "eval_s"} for part, m in results.items()}))
        return
    for part, metrics in results.items():
        shown = metric_values(metrics)
        print(f"{part}: " + "  ".join(f"{k} {v:.4f}" for k, v in shown.items()) +
              f"  (users {metrics['n_users']}, skipped {metrics['n_users_skipped']})")


def _recommend(argv: list[str]) -> None:
    from graphrec.inference import load_run, recommend

    args = _kv_args(argv, {"checkpoint", "users", "k", "format", "exclude", "device"}, {"checkpoint", "users"})
    users = args["users"] if isinstance(args["users"], list) else [args["users"]]
    if not all(isinstance(u, int) for u in users):
        _fail("users: expected a list of integer user ids, e.g. users=[0,5]")
    k = args.get("k", 10)
    if not isinstance(k, int) or isinstance(k, bool):
        _fail(f"k: expected a positive integer, got '{k}'")
    fmt = args.get("format", "text")
    if fmt not in ("text", "json"):
        _fail(f"format: expected 'text' or 'json', got '{fmt}'")
    exp = load_run(args["checkpoint"], args.get("device"))
    recs = recommend(exp, users, k, args.get("exclude", "train"))
    if fmt == "json":
        print(json.dumps(recs))
    else:
        for r in recs:  # raw ids beside the toolkit's where the dataset has them
            user = f"user {r['user']}" + (f" [raw {r['raw_user']}]" if "raw_user" in r else "")
            items = [f"{i} [raw {raw}]" for i, raw in zip(r["items"], r["raw_items"])] if "raw_items" in r \
                else [str(i) for i in r["items"]]
            print(f"{user}: " + ", ".join(items))


VIZ_USAGE = "usage: graphrec viz intents|scores|groups|curves checkpoint=<run dir or .pt> [users=[0,1]] [out=<png>]"


def _viz_curves(argv: list[str]) -> None:
    """Learning curves from a run dir's metrics.csv: no dataset or model is loaded."""
    from graphrec.training.run import run_dir_of
    from graphrec.viz.curves import plot_curves

    args = _kv_args(argv, {"checkpoint", "out"}, {"checkpoint"})
    run_dir = run_dir_of(args["checkpoint"])
    try:
        results = json.loads((run_dir / "results.json").read_text())
    except (OSError, ValueError):
        results = {}  # an unfinished run: curves so far, no best epoch
    out = plot_curves(run_dir, results.get("best_epoch"), Path(args.get("out") or run_dir / "figures" / "curves.png"),
                      f"{results.get('model', run_dir.name)} on {results.get('dataset', '?')}")
    print(f"wrote {out}")


def _viz(argv: list[str]) -> None:
    if not argv or argv[0] not in ("intents", "scores", "groups", "curves"):
        _fail(VIZ_USAGE)
    if argv[0] == "curves":
        return _viz_curves(argv[1:])
    from graphrec.inference import load_run, require_ranking
    from graphrec.checkpoints import load_checkpoint

    kind = argv[0]
    allowed = {"checkpoint", "out", "device"} | ({"users"} if kind in ("scores", "groups") else set())
    args = _kv_args(argv[1:], allowed, {"checkpoint"} | ({"users"} if kind == "scores" else set()))
    ckpt = Path(args["checkpoint"])
    run_dir = ckpt if ckpt.is_dir() else ckpt.parent.parent
    exp = load_run(ckpt, args.get("device"))
    if kind == "scores":
        require_ranking(exp, "viz scores")
    out_path = args.get("out") or run_dir / "figures" / f"{kind}.png"
    name = f"{exp.cfg.model.get('name', '')} on {exp.dataset.name}"
    if kind == "intents":
        from graphrec.viz.intents import plot_intents

        out = plot_intents(exp.model, out_path, f"{name}: items by learned intents")
    else:
        users = args.get("users")
        users = None if users is None else users if isinstance(users, list) else [users]
        if users is not None and not all(isinstance(u, int) for u in users):
            _fail("users: expected a list of integer user ids, e.g. users=[0,5]")
        if kind == "groups":
            from graphrec.viz.groups import plot_groups

            out = plot_groups(exp, users, out_path, f"{name}: interest-group attention and temporal masks")
        else:
            from graphrec.viz.scores import plot_scores

            out = plot_scores(exp, users, out_path, f"{name}: predicted scores of test positives and negatives")
    print(f"wrote {out}")
    if exp.cfg.logger.get("kind") == "wandb":
        from graphrec.training.run import JobInfo, build_loggers

        loggers = build_loggers(exp.cfg.logger, run_dir, JobInfo(name=f"viz-{run_dir.name}"))
        loggers.start(load_checkpoint(ckpt).get("config", {}))
        loggers.log_image(kind, out)
        loggers.finish()


# verbs whose own --help is this text (train's is Hydra's; data's is argparse's)
VERB_USAGE = {
    "evaluate": "usage: graphrec evaluate checkpoint=<run dir or .pt> [device=cpu|cuda] [format=text|json]\n"
                "re-evaluates a saved run on its dataset, split and graphs (the dataset must be the one it "
                "was trained on); under torchrun -m graphrec evaluate the user blocks are sharded over the ranks",
    "recommend": "usage: graphrec recommend checkpoint=<run dir or .pt> users=[0,5] [k=10] [format=text|json] "
                 "[exclude=none|train|train+valid|all] [device=cpu|cuda]",
    "viz": VIZ_USAGE,
    "report": "usage: graphrec report <multirun or outputs dir> [out=<dir>]",
    "export": "usage: graphrec export checkpoint=<run dir or .pt> out=<dir> [max_k=100] [overwrite=true] [device=cpu]",
    "serve": "usage: graphrec serve export=<dir> [host=127.0.0.1] [port=8000] [index=exact|flat|hnsw] [ef_search=128]",
    "topics": "usage: graphrec topics fit|assign|report [overrides]\nMTL's topic pipeline (conf/topics.yaml): fit "
              "dataset=<name>; assign fit_dir=<fit run> [tau3=auto|<distance>] [dataset_name=<new dataset>]; "
              "report fit_dir=<fit run> [assign_dir=<assign run>] [rankers=[<train runs>]]",
    "graphs": "usage: graphrec graphs info dataset=<name> graph=<kind> [graph.<param>=<value> ...] "
              "[eval.split=...] [graph_cache=false]\nkinds: {graph_kinds}",
}


def _report(argv: list[str]) -> None:
    from graphrec.report import write_report

    if not argv or "=" in argv[0]:
        _fail("usage: graphrec report <multirun or outputs dir> [out=<dir>]")
    args = _kv_args(argv[1:], {"out"}, set())
    write_report(argv[0], args.get("out"))


def _data(argv: list[str]) -> None:
    from graphrec.cli.data import data_main

    data_main(argv)


def _graphs(argv: list[str]) -> None:
    from graphrec.cli.graphs import graphs_main

    graphs_main(argv, conf_dir())


VERBS = {"train": _train, "evaluate": _evaluate, "recommend": _recommend, "export": _export, "serve": _serve,
         "report": _report, "data": _data, "graphs": _graphs, "viz": _viz, "topics": _topics}


def main(argv: list[str] | None = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        _main(argv)
        sys.stdout.flush()  # here, so a closed pipe (graphrec --help | head) is caught below
    except BrokenPipeError:  # the reader stopped reading: nothing more to say, no traceback
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


def _main(argv: list[str]) -> None:
    if not argv:
        print(USAGE.format(graph_kinds=graph_kinds()), file=sys.stderr)
        sys.exit(2)
    if argv[0] in ("-h", "--help", "help"):
        print(USAGE.format(graph_kinds=graph_kinds()))
        return
    verb, rest = argv[0], argv[1:]
    if verb in VERB_USAGE and any(a in ("-h", "--help") for a in rest):
        print(VERB_USAGE[verb].format(graph_kinds=graph_kinds()))
        return
    # train reports each stage and epoch; the other verbs print their answer and only warnings besides
    logging.basicConfig(level=logging.INFO if verb in ("train", "topics") else logging.WARNING, format="%(message)s")
    warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta state")
    warnings.filterwarnings("ignore", message="Sparse invariant checks are implicitly disabled")
    try:
        if verb in VERBS:
            VERBS[verb](rest)
        else:
            _fail(f"unknown command '{verb}' (choose from {', '.join(VERBS)})")
    except GraphrecError as exc:
        _fail(str(exc))


if __name__ == "__main__":
    main()
