"""HUIGN structure study (paper Table 3): one row per level structure, P/R/NDCG@10 on the test split at the
best validation recall@10 epoch (eval=huign: random 8:1:1 split, full ranking).

    python benchmarks/huign_structure.py [--dataset tiktok] [--structures "32;32,8;32,8,4;64,16,4;64,32,8,4"]
        [--override trainer.lr=1e-3 ...]

Needs the prepared dataset in $GRAPHREC_DATA (graphrec data prepare ...). Prints the table and the command.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import warnings

from hydra import compose, initialize_config_dir

from graphrec.cli import conf_dir
from graphrec.training.run import run_training

warnings.filterwarnings("ignore")


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--dataset", default="tiktok")
    p.add_argument("--structures", default="32;32,8;32,8,4;64,16,4;64,32,8,4")
    p.add_argument("--override", nargs="*", default=[])
    args = p.parse_args()
    rows = []
    for structure in args.structures.split(";"):
        levels = f"[{structure}]"
        with initialize_config_dir(config_dir=conf_dir(), version_base="1.3"):
            cfg = compose("config", overrides=["model=huign", f"dataset={args.dataset}", "eval=huign",
                                               f"model.levels={levels}", "trainer.progress=false", *args.override])
        with tempfile.TemporaryDirectory() as tmp:
            res = run_training(cfg, tmp)
        rows.append((levels, res))
        print(f"done {levels}: best epoch {res['best_epoch']}, {res['timing']['train_s_per_epoch']:.2f} s/epoch",
              file=sys.stderr)
    print(f"command: python {' '.join(sys.argv)}")
    print(f"{'levels':<16} {'P@10':>8} {'R@10':>8} {'NDCG@10':>8} {'best epoch':>11} {'s/epoch':>8}")
    for levels, res in rows:
        t = res["test"]
        print(f"{levels:<16} {t['precision@10']:>8.4f} {t['recall@10']:>8.4f} {t['ndcg@10']:>8.4f} "
              f"{res['best_epoch']:>11d} {res['timing']['train_s_per_epoch']:>8.2f}")


if __name__ == "__main__":
    main()
