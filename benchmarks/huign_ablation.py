"""HUIGN ablation (issue 21): each candidate cause of HUIGN trailing MF switched alone, and combinations,
trained into kept run dirs, then one table of validation and test metrics per dataset.

    python benchmarks/huign_ablation.py run --out runs/huign --dataset tiktok --jobs 2 [--seeds 0] [--only a,b]
    python benchmarks/huign_ablation.py run --out runs/huign --dataset ml100k --jobs 2
    python benchmarks/huign_ablation.py run --out runs/huign --dataset ml-latest-small --jobs 2 --only defaults,vbpr
    python benchmarks/huign_ablation.py table --out runs/huign --dataset tiktok

TikTok: its fixed split, selection on validation recall@20; ML-100K and ml-latest-small: ``eval=huign`` (random
8:1:1, selection on validation recall@10). Each run is ``graphrec train`` in its own process at ``OMP_NUM_THREADS=1``; a finished
run (``results.json`` present) is not run again. A label is a HUIGN setting of SETTINGS, a combination ``a+b``, or
one of BASELINES (that model at its config defaults). Configurations are chosen on the valid columns only.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

SETTINGS = {
    "paper": ["model.variant=paper"],
    "defaults": [],
    "center": ["model.feature_norm=center"],
    "standardize": ["model.feature_norm=standardize"],
    "count": ["model.edge_weight=count"],
    "topk32": ["model.top_k=32"],
    "row": ["model.aggregation=row"],
    "per_modality": ["model.scoring=per_modality"],
    # the under-tuning hypothesis: lighter eq. 9 / 10 weights, one level, a larger learning rate
    "lambda0.01": ["model.lambda_entropy=0.01", "model.lambda_independence=0.01"],
    "levels32": ["model.levels=[32]"],
    "lr3e-3": ["trainer.lr=3e-3"],
}
# the paper's baselines that the toolkit has (and BPR-MF), trained under the same split and selection rule
BASELINES = ("mf", "vbpr", "ngcf", "mmgcn")
DATASETS = {"tiktok": (["dataset=tiktok"], "recall@20", "ndcg@20"),
            "ml100k": (["dataset=ml100k", "eval=huign"], "recall@10", "ndcg@10"),
            "ml-latest-small": (["dataset=ml-latest-small", "eval=huign"], "recall@10", "ndcg@10")}


def settings_from(spec: str) -> list[str]:
    """The overrides of a label: a baseline's name selects that model with its config defaults; ``a+b``
    combines the overrides of HUIGN settings a and b; any other name must be in SETTINGS."""
    if spec in BASELINES:
        return [f"model={spec}"]
    return ["model=huign", *(o for part in spec.split("+") for o in SETTINGS[part])]


def run_one(out: Path, dataset: str, label: str, seed: int, extra: list[str]) -> str:
    run_dir = out / dataset / f"{label}-s{seed}"
    if (run_dir / "results.json").exists():
        return f"skip {run_dir.name}"
    cmd = [sys.executable, "-m", "graphrec.cli", "train", *DATASETS[dataset][0],
           *settings_from(label), *extra, f"seed={seed}", "trainer.progress=false", f"hydra.run.dir={run_dir}"]
    done = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
    if done.returncode != 0:
        return f"FAILED {run_dir.name}: {done.stderr.strip().splitlines()[-1] if done.stderr.strip() else ''}"
    res = json.loads((run_dir / "results.json").read_text())
    metric = DATASETS[dataset][1]
    return (f"done {run_dir.name}: valid {metric} {res['valid'][metric]:.4f}, best epoch {res['best_epoch']} of "
            f"{res['epochs_run']}, {res['timing']['train_s_per_epoch']:.2f} s/epoch")


def table(out: Path, dataset: str) -> None:
    recall, ndcg = DATASETS[dataset][1:]
    groups: dict[str, list[dict]] = {}
    for path in sorted((out / dataset).glob("*/results.json")):
        label = path.parent.name.rsplit("-s", 1)[0]
        groups.setdefault(label, []).append(json.loads(path.read_text()))
    print(f"| setting | runs | valid {recall} | valid {ndcg} | test {recall} | test {ndcg} | best epochs | s/epoch |")
    print("|---|---|---|---|---|---|---|---|")
    for label, runs in groups.items():
        def cell(part: str, m: str) -> str:
            values = [r[part][m] for r in runs]
            sd = f" ± {statistics.stdev(values):.4f}" if len(values) > 1 else ""
            return f"{statistics.mean(values):.4f}{sd}"
        epochs = " / ".join(str(r["best_epoch"]) for r in runs)
        speed = statistics.mean(r["timing"]["train_s_per_epoch"] for r in runs)
        print(f"| {label} | {len(runs)} | {cell('valid', recall)} | {cell('valid', ndcg)} | {cell('test', recall)} | "
              f"{cell('test', ndcg)} | {epochs} | {speed:.2f} |")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("what", choices=["run", "table"])
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--dataset", choices=sorted(DATASETS), required=True)
    p.add_argument("--only", default=None, help="comma-separated settings (a+b combines); default: all alone")
    p.add_argument("--seeds", default="0")
    p.add_argument("--jobs", type=int, default=1)
    args, extra = p.parse_known_args()
    if args.what == "table":
        table(args.out, args.dataset)
        return
    labels = args.only.split(",") if args.only else list(SETTINGS)
    for label in labels:
        settings_from(label)  # unknown names fail before any run
    print(f"command: python {' '.join(sys.argv)}", flush=True)
    tasks = [(label, int(s)) for s in args.seeds.split(",") for label in labels]
    with ThreadPoolExecutor(args.jobs) as pool:
        for line in pool.map(lambda t: run_one(args.out, args.dataset, t[0], t[1], extra), tasks):
            print(line, flush=True)


if __name__ == "__main__":
    main()
