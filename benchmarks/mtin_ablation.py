"""MTIN ablation (issue 35): the printed model (``model.variant=paper``), the extended model (the default until this
ablation), the extended model with each addition removed and with each paper component removed — trained into kept
run dirs, then one table of validation and test metrics per dataset.

    python benchmarks/mtin_ablation.py run --out runs/mtin --dataset kuairand-likehate --seeds 0,1,2 --jobs 2
    python benchmarks/mtin_ablation.py run --out runs/mtin --dataset ml100k --seeds 0 --jobs 2
    python benchmarks/mtin_ablation.py table --out runs/mtin --dataset kuairand-likehate

Every run: the click-through presets' protocol (``conf/experiment/ctr/common.yaml``: L = 20, at most 15 epochs,
patience 3), MTIN at d = 32 with 4 masks and hidden 32 (the CPU budget of the whole table; the paper's d = 128 is the
config default), lr 1e-3, selection on validation AUC. Additions (``graphrec/models/mtin.py``) are removed by
setting their switch to the printed value; paper components by their ablation switch.
"""

from __future__ import annotations

import _ablation

COMMON = ["model=mtin", "experiment=ctr/common", "model.embedding_dim=32", "model.hidden=32", "model.n_masks=4",
          "trainer.lr=1e-3"]
SETTINGS = {
    "paper": ["model.variant=paper"],
    "extended": ["model.variant=extended"],
    # each addition removed from the extended model (its switch at the printed value)
    "-affinity": ["model.affinity=false"],
    "-squash": ["model.squash=false", "model.epsilon=0.0"],
    "-target_readout": ["model.readout=sum"],
    "-user_embedding": ["model.user_embedding=false"],
    "-memory_momentum": ["model.memory_momentum=1.0"],
    "-score_weight": ["model.group_weight=straight_through"],
    "+per_group_masks": ["model.per_group_masks=true"],
    "+merge_mlp": ["model.merge_layers=2"],
    "+sequential_routing": ["model.routing=sequential"],
    # each paper component removed from the extended model
    "-temporal_masks": ["model.temporal_masks=false"],
    "-interest_mask": ["model.interest_mask=false"],
    "-negative_branch": ["model.use_negative=false"],
    "-routing": ["model.routing=argmax"],
}
DATASETS = {"kuairand-likehate": (["dataset=kuairand-likehate"], ["auc", "user_auc", "logloss"]),
            "ml100k": (["dataset=ml100k"], ["auc", "user_auc", "logloss"])}


def overrides_of(label: str) -> list[str]:
    variant = [] if label == "paper" else ["model.variant=extended"]
    return [*COMMON, *variant, *SETTINGS[label]]


if __name__ == "__main__":
    _ablation.main(__doc__, list(SETTINGS), DATASETS, overrides_of)
