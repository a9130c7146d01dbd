"""MTL end to end on a dataset with impressions (ml-latest-small): topics → topic queues → rankers (Table II).

    python benchmarks/topics_study.py --dataset ml-latest-small --out /path/to/runs [--jobs 2]

1. ``graphrec topics fit`` (seed 0) and ``assign`` (τ₃ auto: ~4 topics per item), writing the dataset
   ``<dataset>-topics`` into the data root;
2. for each ranker (LR, EMLP, DCN, Wide&Deep) without and with ``model.item_fields=[topic]``: seed 0 at each
   learning rate of ``--lrs``, the one of best *validation* AUC kept, then the other seeds at that rate;
3. ``graphrec topics report`` with the queues and the chosen runs: prints ``tables.md`` (Table I analogue on
   the dataset's genre classes, topic-queue recall, Table II analogue).
Every run is a ``graphrec`` subprocess with one CPU thread; ``--jobs`` run side by side.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

MODELS = ("lr", "emlp", "dcn", "wide_deep")


def graphrec(*args: str) -> None:
    env = dict(os.environ, OMP_NUM_THREADS="1")
    out = subprocess.run([sys.executable, "-m", "graphrec.cli", *args], capture_output=True, text=True, env=env)
    if out.returncode != 0:
        raise SystemExit(f"graphrec {' '.join(args)} failed:\n{out.stderr[-3000:]}")


def train(out: Path, dataset: str, model: str, fields: str, lr: float, seed: int, history: int) -> Path:
    run = out / f"{model}-{fields}-lr{lr:g}-s{seed}"
    if not (run / "results.json").is_file():
        graphrec("train", f"model={model}", "dataset=prepared", f"dataset.name={dataset}",
                 f"model.item_fields={'[topic]' if fields == 'topic' else '[]'}", f"trainer.lr={lr}", f"seed={seed}",
                 f"eval.history_length={history}", "trainer.progress=false", f"hydra.run.dir={run}")
    print(f"done {run.name}", file=sys.stderr, flush=True)
    return run


def valid_auc(run: Path) -> float:
    return float(json.loads((run / "results.json").read_text())["valid"]["auc"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="ml-latest-small")
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--lrs", type=float, nargs="+", default=[1e-3, 3e-3])
    parser.add_argument("--models", nargs="+", default=list(MODELS))
    parser.add_argument("--history", type=int, default=20)
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args()
    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    topics = f"{args.dataset}-topics"
    if not (out / "fit" / "results.json").is_file():
        graphrec("topics", "fit", f"dataset={args.dataset}", "seed=0", f"hydra.run.dir={out / 'fit'}")
    if not (out / "assign" / "results.json").is_file():
        graphrec("topics", "assign", f"dataset={args.dataset}", f"fit_dir={out / 'fit'}", f"dataset_name={topics}",
                 "overwrite=true", f"hydra.run.dir={out / 'assign'}")
    configs = [(m, f) for m in args.models for f in ("none", "topic")]
    with ThreadPoolExecutor(args.jobs) as pool:
        first = {(m, f, lr): pool.submit(train, out, topics, m, f, lr, args.seeds[0], args.history)
                 for m, f in configs for lr in args.lrs}
        chosen = {}
        for m, f in configs:
            scores = {lr: valid_auc(first[(m, f, lr)].result()) for lr in args.lrs}
            chosen[(m, f)] = max(scores, key=scores.get)
            print(f"{m} fields={f}: valid AUC by lr {scores} -> lr {chosen[(m, f)]:g}", flush=True)
        rest = [pool.submit(train, out, topics, m, f, chosen[(m, f)], s, args.history)
                for m, f in configs for s in args.seeds[1:]]
        runs = [first[(m, f, chosen[(m, f)])].result() for m, f in configs] + [r.result() for r in rest]
    graphrec("topics", "report", f"dataset={args.dataset}", f"fit_dir={out / 'fit'}", f"assign_dir={out / 'assign'}",
             f"rankers=[{','.join(str(r) for r in runs)}]", f"hydra.run.dir={out / 'report'}")
    print((out / "report" / "tables.md").read_text())


if __name__ == "__main__":
    main()
