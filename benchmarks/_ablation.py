"""Shared by the ablation scripts: each labelled setting × seed trained by `graphrec train` in its own process
(``OMP_NUM_THREADS=1``) into a kept run dir ``<out>/<dataset>/<label>-s<seed>``, then one markdown table of
validation and test metrics per label (mean ± sample sd over the seeds). A finished run (``results.json``) is not
run again. Settings are chosen on the valid columns only.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path


def run_one(run_dir: Path, overrides: list[str], metric: str) -> str:
    """One `graphrec train` into ``run_dir``; a line saying how it went."""
    if (run_dir / "results.json").exists():
        return f"skip {run_dir.name}"
    cmd = [sys.executable, "-m", "graphrec.cli", "train", *overrides, "trainer.progress=false",
           f"hydra.run.dir={run_dir}"]
    done = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
    if done.returncode != 0:
        return f"FAILED {run_dir.name}: {done.stderr.strip().splitlines()[-1] if done.stderr.strip() else ''}"
    res = json.loads((run_dir / "results.json").read_text())
    return (f"done {run_dir.name}: valid {metric} {res['valid'][metric]:.4f}, best epoch {res['best_epoch']} of "
            f"{res['epochs_run']}, {res['timing']['train_s_per_epoch']:.2f} s/epoch")


def table(folder: Path, metrics: list[str], labels: list[str] | None = None) -> None:
    """The markdown table of the runs under ``folder``: per label, valid and test of each metric."""
    groups: dict[str, list[dict]] = {}
    for path in sorted(folder.glob("*/results.json")):
        groups.setdefault(path.parent.name.rsplit("-s", 1)[0], []).append(json.loads(path.read_text()))
    order = [label for label in (labels or []) if label in groups] + sorted(set(groups) - set(labels or []))
    columns = [(part, m) for part in ("valid", "test") for m in metrics]
    print("| setting | runs | " + " | ".join(f"{part} {m}" for part, m in columns) + " | best epochs | s/epoch |")
    print("|---|---|" + "---|" * len(columns) + "---|---|")
    for label in order:
        runs = groups[label]

        def cell(part: str, m: str) -> str:
            values = [r[part][m] for r in runs]
            sd = f" ± {statistics.stdev(values):.4f}" if len(values) > 1 else ""
            return f"{statistics.mean(values):.4f}{sd}"

        epochs = " / ".join(str(r["best_epoch"]) for r in runs)
        speed = statistics.mean(r["timing"]["train_s_per_epoch"] for r in runs)
        print(f"| {label} | {len(runs)} | " + " | ".join(cell(part, m) for part, m in columns) +
              f" | {epochs} | {speed:.2f} |")


def main(doc: str, labels: list[str], datasets: dict[str, tuple[list[str], list[str]]],
         overrides_of: Callable[[str], list[str]]) -> None:
    """``run`` or ``table`` from the command line. ``datasets``: name -> (its overrides, its metrics, the first
    the selection metric); ``overrides_of(label)``: a label's overrides (unknown labels raise before any run)."""
    p = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("what", choices=["run", "table"])
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--dataset", choices=sorted(datasets), required=True)
    p.add_argument("--only", default=None, help="comma-separated labels; default: every one")
    p.add_argument("--seeds", default="0")
    p.add_argument("--jobs", type=int, default=1)
    args, extra = p.parse_known_args()
    dataset_overrides, metrics = datasets[args.dataset]
    chosen = args.only.split(",") if args.only else list(labels)
    if args.what == "table":
        table(args.out / args.dataset, metrics, chosen)
        return
    for label in chosen:
        overrides_of(label)
    print(f"command: python {' '.join(sys.argv)}", flush=True)
    tasks = [(label, int(s)) for s in args.seeds.split(",") for label in chosen]

    def run(task: tuple[str, int]) -> str:
        label, seed = task
        return run_one(args.out / args.dataset / f"{label}-s{seed}",
                       [*dataset_overrides, *overrides_of(label), *extra, f"seed={seed}"], metrics[0])

    with ThreadPoolExecutor(args.jobs) as pool:
        for line in pool.map(run, tasks):
            print(line, flush=True)
