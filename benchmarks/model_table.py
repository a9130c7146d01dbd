"""Every ranking model of the toolkit on one dataset: one table.

For each model, `graphrec train experiment=<m>_<d>` (the validation-selected preset, where conf/experiment has
one) or else `graphrec train model=<m> dataset=<d>` (config defaults; `--defaults` forces these for every
model) runs in its own child process (so the peak RSS is that model's), early-stopping on validation recall@20; the table shows the test metrics at the best validation
epoch, mean seconds per training epoch, the epoch selected / epochs run, and the peak RSS.

    python benchmarks/model_table.py --dataset tiktok [--models mf,lightgcn,...] [--out DIR] [--seed 0] [--defaults]

`dataset` is a prepared dataset name in $GRAPHREC_DATA (`graphrec data prepare ...`, see the README).
Results of finished models are kept in --out (default benchmarks/out/<dataset>) and reused on a re-run, so an
interrupted table resumes; --fresh retrains.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

from graphrec.models.registry import full_ranking_models, registered_models

MODELS = full_ranking_models()  # every conf/model/*.yaml of the ranking family under full ranking
FEATURE_FREE = [m for m in MODELS if not registered_models()[m].uses_features]


def selection(model: str, dataset: str, defaults: bool) -> list[str]:
    """The overrides that pick the model: its preset for this dataset when there is one (module doc)."""
    from graphrec.configs import conf_dir

    preset = f"{model}_{dataset}"
    if not defaults and (Path(conf_dir()) / "experiment" / f"{preset}.yaml").is_file():
        return [f"experiment={preset}"]
    return [f"model={model}", f"dataset={dataset}"]


def child(model: str, dataset: str, run_dir: Path, seed: int, extra: list[str], defaults: bool = False) -> None:
    """Runs in the child: train, then write the results and this process's peak RSS."""
    from hydra import compose, initialize_config_dir

    from graphrec.configs import conf_dir
    from graphrec.training.run import run_training

    from graphrec.checkpoints import write_json

    chosen = selection(model, dataset, defaults)
    with initialize_config_dir(config_dir=conf_dir(), version_base="1.3"):
        cfg = compose("config", overrides=[*chosen, f"seed={seed}", "trainer.progress=false", *extra])
    res = run_training(cfg, run_dir)
    res["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    res["leaderboard_setting"] = chosen[0].removeprefix("experiment=") if len(chosen) == 1 else "defaults"
    write_json(res, run_dir / "bench.json")


def row(model: str, res: dict) -> str:
    t = res["test"]
    return (f"| {model} | {t['recall@20']:.4f} | {t['ndcg@20']:.4f} | {t['precision@20']:.4f} | "
            f"{res['timing']['train_s_per_epoch']:.2f} | {res['best_epoch']} / {res['epochs_run']} | "
            f"{res['peak_rss_mb']:.0f} |")


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--dataset", default="tiktok")
    p.add_argument("--models", default=None, help="comma-separated (default: all; feature-free ones on baby)")
    p.add_argument("--out", default=None)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--fresh", action="store_true")
    p.add_argument("--defaults", action="store_true", help="config defaults for every model, no presets")
    p.add_argument("--child", default=None, help=argparse.SUPPRESS)
    p.add_argument("--run-dir", default=None, help=argparse.SUPPRESS)  # the child's (default: --out/<model>)
    p.add_argument("overrides", nargs="*", help="extra Hydra overrides for every model")
    args = p.parse_args()
    out = Path(args.out or Path(__file__).parent / "out" / args.dataset)
    if args.child:
        run_dir = Path(args.run_dir) if args.run_dir else out / args.child
        child(args.child, args.dataset, run_dir, args.seed, args.overrides, args.defaults)
        return
    models = args.models.split(",") if args.models else (FEATURE_FREE if args.dataset == "baby" else MODELS)
    print(f"command: {' '.join([Path(sys.executable).name, *sys.argv])}", flush=True)
    lines = ["| model | R@20 | N@20 | P@20 | s/epoch | best / run epochs | peak RSS MB |", "|---|---|---|---|---|---|---|"]
    for model in models:
        bench = out / model / "bench.json"
        if args.fresh or not bench.is_file():
            start = time.perf_counter()
            cmd = [sys.executable, __file__, "--child", model, "--dataset", args.dataset, "--out", str(out),
                   "--seed", str(args.seed), *(["--defaults"] if args.defaults else []), *args.overrides]
            done = subprocess.run(cmd, capture_output=True, text=True)
            if done.returncode != 0:
                print(f"{model}: failed\n{done.stderr[-2000:]}", flush=True)
                continue
            print(f"{model}: {time.perf_counter() - start:.0f} s", flush=True)
        lines.append(row(model, json.loads(bench.read_text())))
        print(lines[-1], flush=True)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
