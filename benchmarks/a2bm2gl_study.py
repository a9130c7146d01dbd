"""A²BM²GL studies on one dataset under eval=a2bm2gl (per-user 70/10/20, selection on validation NDCG@10):
the ablations of the paper's Table 3 (model-an, model-al, model-str, full model) and the losses of its Table 4
(WR, BPR, InfoBPR, adaptive), next to the toolkit's LightGCN under the same protocol (its learning rate, 1e-3
or 1e-2, chosen on validation). Test P/R/NDCG@10 and AUC.

    python benchmarks/a2bm2gl_study.py [--dataset ml100k] [--override trainer.epochs=200 ...]

Needs the prepared dataset in $GRAPHREC_DATA (graphrec data prepare movielens <ml-100k folder> --name ml100k).
The full model (adaptive loss) and model-al (BPR) are trained once and appear in both tables.
"""

from __future__ import annotations

import argparse
import sys

from _runs import print_table, train

VARIANTS = {  # label -> model overrides
    "model (adaptive)": [],
    "model-an": ["model.anti_bottleneck=false"],
    "model-al (BPR)": ["model.loss=bpr"],
    "model-str": ["model.semantic=false"],
    "WR": ["model.loss=wr"],
    "InfoBPR": ["model.loss=infobpr"],
}
METRICS = ["precision@10", "recall@10", "ndcg@10", "auc"]


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--dataset", default="ml100k")
    p.add_argument("--override", nargs="*", default=[], help="extra Hydra overrides for every A²BM²GL run")
    args = p.parse_args()
    base = [f"dataset={args.dataset}", "eval=a2bm2gl"]
    # d 64 / 2 layers and A²BM²GL's lr 1e-2: the settings of the README rows (experiment=lightgcn_ml100k, a2bm2gl_ml100k)
    lightgcn = [train(["model=lightgcn", *base, "model.embedding_dim=64", "model.n_layers=2", f"trainer.lr={lr}"],
                      f"LightGCN lr {lr}") for lr in (1e-3, 1e-2)]
    res = {"LightGCN": max(lightgcn, key=lambda r: r["valid"]["ndcg@10"])}  # its lr chosen on validation
    for label, overrides in VARIANTS.items():
        res[label] = train(["model=a2bm2gl", *base, "trainer.lr=1e-2", *overrides, *args.override], label)
    print(f"command: python {' '.join(sys.argv)}")
    print_table("Ablations (Table 3)", [(k, res[k]) for k in
                                        ("model-an", "model-al (BPR)", "model-str", "model (adaptive)", "LightGCN")],
                METRICS)
    print_table("Losses (Table 4)", [(k, res[k]) for k in ("WR", "model-al (BPR)", "InfoBPR", "model (adaptive)")],
                METRICS)


if __name__ == "__main__":
    main()
