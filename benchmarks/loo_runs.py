"""Leave-one-out (``eval=iris``) studies: train labelled configurations into kept run dirs, then tabulate.

    # one run (skipped when <out>/<label>/results.json exists; pre-trained models name earlier runs' checkpoints)
    python benchmarks/loo_runs.py run --out runs/loo --label fism-ml100k-s0 model=fism dataset=ml100k seed=0
    # validation table of every run (sweeps), and test means over seeds of the runs named <config>-s<seed>
    python benchmarks/loo_runs.py table --out runs/loo

Selection uses validation only: configurations are chosen by the valid columns; test columns are printed
beside them for the record and never used to choose.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
import time
from pathlib import Path

from hydra import compose, initialize_config_dir

from graphrec.configs import conf_dir
from graphrec.training.run import run_training


def run(out: Path, label: str, overrides: list[str]) -> None:
    run_dir = out / label
    if (run_dir / "results.json").exists():
        print(f"skip {label}: done", file=sys.stderr)
        return
    with initialize_config_dir(config_dir=conf_dir(), version_base="1.3"):
        cfg = compose("config", overrides=["eval=iris", *overrides, "trainer.progress=false"])
    start = time.perf_counter()
    res = run_training(cfg, run_dir)
    (run_dir / "overrides.json").write_text(json.dumps(overrides))
    print(f"done {label}: best epoch {res['best_epoch']}/{res['epochs_run']}, "
          f"{res['timing']['train_s_per_epoch']:.2f} s/epoch, {time.perf_counter() - start:.0f} s, "
          f"valid ndcg@10 {res['valid'].get('ndcg@10', float('nan')):.4f}", file=sys.stderr, flush=True)


def table(out: Path, metrics: list[str], prefix: str = "") -> None:
    rows = []
    for path in sorted(out.glob(f"{prefix}*/results.json")):
        res = json.loads(path.read_text())
        rows.append((path.parent.name, res))
    print(f"{'run':<40}" + "".join(f"{'v.' + m:>11}" for m in metrics) + "".join(f"{'t.' + m:>11}" for m in metrics)
          + f"{'epochs':>8}{'s/ep':>7}")
    for label, res in rows:
        print(f"{label:<40}" + "".join(f"{res['valid'].get(m, float('nan')):>11.4f}" for m in metrics)
              + "".join(f"{res['test'].get(m, float('nan')):>11.4f}" for m in metrics)
              + f"{res['best_epoch']:>4}/{res['epochs_run']:<3}{res['timing']['train_s_per_epoch']:>7.1f}")
    groups: dict[str, list[dict]] = {}
    for label, res in rows:
        match = re.fullmatch(r"(.+)-s(\d+)", label)
        if match:
            groups.setdefault(match.group(1), []).append(res)
    print(f"\n{'config (mean over seeds)':<34}{'n':>3}" + "".join(f"{'valid ' + m:>14}{'test ' + m:>13}{'± sd':>8}"
                                                            for m in metrics))
    for name, results in groups.items():
        cells = ""
        for m in metrics:
            valid = [r["valid"][m] for r in results]
            test = [r["test"][m] for r in results]
            sd = statistics.stdev(test) if len(test) > 1 else 0.0
            cells += f"{statistics.mean(valid):>14.4f}{statistics.mean(test):>13.4f}{sd:>8.4f}"
        print(f"{name:<34}{len(results):>3}{cells}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("what", choices=["run", "table"])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--label")
    parser.add_argument("--metrics", default="hit@10,ndcg@10")
    parser.add_argument("--prefix", default="", help="table: only runs whose label starts with this")
    args, overrides = parser.parse_known_args()
    if args.what == "run":
        if not args.label:
            parser.error("run needs --label")
        run(args.out, args.label, [o for o in overrides if o != "--"])
    else:
        table(args.out, args.metrics.split(","), args.prefix)


if __name__ == "__main__":
    main()
