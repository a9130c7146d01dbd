"""``graphrec viz intents|scores|groups|curves checkpoint=<path>``: figures of a run, as PNG."""

from __future__ import annotations

import json
from pathlib import Path

from graphrec.cli.args import fail, kv_args

KINDS = ("intents", "scores", "groups", "curves")


def _viz_curves(argv: list[str]) -> None:
    """Learning curves from a run dir's metrics.csv: no dataset or model is loaded."""
    from graphrec.training.run import run_dir_of
    from graphrec.viz.curves import plot_curves

    args = kv_args(argv, {"checkpoint", "out"}, {"checkpoint"})
    run_dir = run_dir_of(args["checkpoint"])
    try:
        results = json.loads((run_dir / "results.json").read_text())
    except (OSError, ValueError):
        results = {}  # an unfinished run: curves so far, no best epoch
    out = plot_curves(run_dir, results.get("best_epoch"), Path(args.get("out") or run_dir / "figures" / "curves.png"),
                      f"{results.get('model', run_dir.name)} on {results.get('dataset', '?')}")
    print(f"wrote {out}")


def main(argv: list[str]) -> None:
    if not argv or argv[0] not in KINDS:
        fail(f"viz: expected one of {', '.join(KINDS)} first (graphrec viz --help)")
    if argv[0] == "curves":
        return _viz_curves(argv[1:])
    from graphrec.inference import load_run, require_ranking
    from graphrec.checkpoints import load_checkpoint

    kind = argv[0]
    allowed = {"checkpoint", "out", "device"} | ({"users"} if kind in ("scores", "groups") else set())
    args = kv_args(argv[1:], allowed, {"checkpoint"} | ({"users"} if kind == "scores" else set()))
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
            fail("users: expected a list of integer user ids, e.g. users=[0,5]")
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
