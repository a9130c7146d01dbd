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

import _ablation

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
DATASETS = {"tiktok": (["dataset=tiktok"], ["recall@20", "ndcg@20"]),
            "ml100k": (["dataset=ml100k", "eval=huign"], ["recall@10", "ndcg@10"]),
            "ml-latest-small": (["dataset=ml-latest-small", "eval=huign"], ["recall@10", "ndcg@10"])}


def settings_from(spec: str) -> list[str]:
    """The overrides of a label: a baseline's name selects that model with its config defaults; ``a+b``
    combines the overrides of HUIGN settings a and b; any other name must be in SETTINGS."""
    if spec in BASELINES:
        return [f"model={spec}"]
    return ["model=huign", *(o for part in spec.split("+") for o in SETTINGS[part])]


def main() -> None:
    _ablation.main(__doc__, list(SETTINGS), DATASETS, settings_from)


if __name__ == "__main__":
    main()
