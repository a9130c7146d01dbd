"""HUIGN structure study (paper Table 3): one row per level structure, P/R/NDCG@10 on the test split at the
best validation recall@10 epoch (eval=huign: random 8:1:1 split, full ranking).

    python benchmarks/huign_structure.py [--dataset tiktok] [--structures "32;32,8;32,8,4;64,16,4;64,32,8,4"]
        [--override trainer.lr=1e-3 ...]

Needs the prepared dataset in $GRAPHREC_DATA (graphrec data prepare ...). Prints the table and the command.
"""

from __future__ import annotations

import argparse
import sys

from _runs import print_table, train


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--dataset", default="tiktok")
    p.add_argument("--structures", default="32;32,8;32,8,4;64,16,4;64,32,8,4")
    p.add_argument("--override", nargs="*", default=[])
    args = p.parse_args()
    rows = []
    for structure in args.structures.split(";"):
        levels = f"[{structure}]"
        rows.append((levels, train(["model=huign", f"dataset={args.dataset}", "eval=huign",
                                    f"model.levels={levels}", *args.override], levels)))
    print(f"command: python {' '.join(sys.argv)}")
    print_table("HUIGN level structures (test, at the best validation recall@10)", rows,
                ["precision@10", "recall@10", "ndcg@10"])


if __name__ == "__main__":
    main()
