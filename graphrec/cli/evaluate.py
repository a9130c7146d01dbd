"""``graphrec evaluate checkpoint=<path>``: re-evaluate a saved run on its dataset, split and graphs (any task)."""

from __future__ import annotations

import json

from graphrec.cli.args import fail, kv_args


def main(argv: list[str]) -> None:
    from graphrec.evaluation.metrics import metric_values
    from graphrec.inference import evaluate_checkpoint

    from graphrec import distributed as ddp

    args = kv_args(argv, {"checkpoint", "device", "format"}, {"checkpoint"})
    if args.get("format", "text") not in ("text", "json"):
        fail(f"format: expected text or json, got '{args['format']}'")
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
        counts = [f"{k.removeprefix('n_').replace('_', ' ')} {v}" for k, v in metrics.items()
                  if k not in shown and k != "eval_s"]  # what the task's evaluator counted (users, skipped, ...)
        print(f"{part}: " + "  ".join(f"{k} {v:.4f}" for k, v in shown.items()) +
              (f"  ({', '.join(counts)})" if counts else ""))
