"""Start-up checks of a ``graphrec topics`` config: every value a stage will read, checked before any work.

``graphrec topics <stage>`` runs ``check_topics_config`` before Hydra makes a run dir, so a mistyped value
(``kmeans.k=abc``) is one line at once instead of a traceback after minutes of training, and a stage's
declared inputs (``fit_dir``, ``assign_dir``, every ``rankers`` entry) are known to exist before it starts.
"""

from __future__ import annotations

import glob
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from graphrec.data.storage import check_name, dataset_dir
from graphrec.errors import ConfigError
from graphrec.typed_config import check_choice, check_flag, check_number

# key -> (kind, lowest, highest, whether the lowest is allowed); "int" means a whole number
NUMBERS = {
    "inputs.text_dim": ("int", 1, None, True), "predicted_tags": ("int", 1, None, True),
    "heldout_share": ("float", 0.0, 1.0, True), "seed": ("int", None, None, True),
    **{f"mmoe.{k}": ("int", 1, None, True) for k in ("experts", "adapter_dim", "expert_hidden", "expert_dim",
                                                        "tower_hidden", "batch_size", "epochs", "patience")},
    "mmoe.dropout": ("float", 0.0, 1.0, True), "mmoe.lr": ("float", 0.0, None, False),
    "mmoe.valid_share": ("float", 0.0, 1.0, True),
    **{f"deepwalk.{k}": ("int", 1, None, True) for k in ("walk_length", "walks_per_node", "window", "negatives",
                                                            "dim", "epochs", "walks_per_batch")},
    "deepwalk.lr": ("float", 0.0, None, False),
    **{f"kmeans.{k}": ("int", 1, None, True) for k in ("k", "n_init", "iterations")},
}
ASSIGN_NUMBERS = {"topics_per_item": ("float", 0.0, None, False)}
REPORT_NUMBERS = {"queues.tau1": ("float", 0.0, None, True), "queues.tau2": ("float", 0.0, 1.0, True),
                  "queues.fresh_share": ("float", 0.0, 1.0, True),
                  **{f"queues.{k}": ("int", 1, None, True) for k in ("n1", "n2", "n3")}}
CHOICES = {"tags": ("auto", "all", "before_valid"), "untagged": ("predicted", "zero"),
           "inputs.text_encoder": ("tfidf", "tfidf_chars", "minilm", "auto")}


def ranker_runs(patterns: list[str]) -> list[Path]:
    """The ``results.json`` of the runs ``patterns`` (run dirs or glob patterns) name; a pattern matching no
    finished run is a ConfigError naming it."""
    found: list[Path] = []
    for pattern in patterns:
        hits = sorted(set(glob.glob(str(Path(pattern) / "results.json"))) |
                      {p for p in glob.glob(str(pattern)) if p.endswith("results.json")} |
                      set(glob.glob(str(Path(pattern) / "**" / "results.json"), recursive=True)))
        if not hits:
            raise ConfigError(f"rankers: '{pattern}' matches no finished `graphrec train` run (no results.json)")
        found += [Path(h) for h in hits if Path(h) not in found]
    return found


def check_topics_config(cfg: DictConfig, stage: str) -> None:
    """Every value ``stage`` reads (module doc); raises one ConfigError naming the first bad key."""
    from graphrec.topics.assign import read_stage

    numbers = {**NUMBERS, **(ASSIGN_NUMBERS if stage == "assign" else {}),
               **(REPORT_NUMBERS if stage == "report" else {})}
    for key, (kind, low, high, inclusive) in numbers.items():
        check_number(OmegaConf.select(cfg, key), key, kind, low, high, inclusive)
    for key, allowed in CHOICES.items():
        check_choice(str(OmegaConf.select(cfg, key)), key, allowed)
    for key in ("overwrite", "progress"):
        check_flag(cfg.get(key), key)
    if stage in ("assign", "report"):
        read_stage(cfg.fit_dir, "fit", "fit_dir")
    if stage == "assign":
        if cfg.tau3 != "auto":
            check_number(cfg.tau3, "tau3", "float", 0.0, 2.0 + 1e-12, True)  # a cosine distance
        if cfg.get("dataset_name"):
            check_name(cfg.dataset_name, "dataset_name")
            if dataset_dir(cfg.dataset_name, cfg.get("data_root")).exists() and not cfg.overwrite:
                raise ConfigError(f"dataset_name: dataset '{cfg.dataset_name}' already exists (pass overwrite=true "
                                  f"to replace it)")
    if stage == "report":
        if cfg.get("assign_dir"):
            read_stage(cfg.assign_dir, "assign", "assign_dir")
        ranker_runs([str(r) for r in (cfg.get("rankers") or [])])
