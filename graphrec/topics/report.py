"""``graphrec topics report``: the tables and the figure of a topic pipeline, written into its run dir.

- Table I analogue (``graphrec.topics.study``) from the fit run (``fit_dir``);
- with ``assign_dir`` and a dataset holding impressions: the topic-queue recall table (``graphrec.topics.queues``)
  on the click-through split of ``eval.*``;
- with ``rankers`` (run dirs or glob patterns of ``graphrec train`` runs on the ``ctr`` task): the Table II
  analogue, each model's test AUC without and with item fields (``model.item_fields``, read from the run's
  ``.hydra/config.yaml``), mean ± std over the seeds of one configuration: runs that differ in any other
  result-relevant value (dataset, split, content features, sizes) are separate rows, the values named;
- ``figures/topics.png``: the topic representations of (at most 5,000) items in 2-D (PCA), coloured by primary
  class (the 9 largest; the rest grey), topic centres as crosses.
Outputs: ``tables.md``, ``tables.json``, ``figures/topics.png``, ``results.json``.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf

from graphrec.atomic import write_text
from graphrec.experiment import load_configured_dataset
from graphrec.provenance import flatten, result_config
from graphrec.topics.assign import load_npz, read_stage
from graphrec.topics.queues import queue_recall
from graphrec.topics.settings import ranker_runs
from graphrec.topics.study import table_one
from graphrec.checkpoints import write_json

log = logging.getLogger("graphrec")


def _markdown(rows: list[dict], columns: list[str]) -> str:
    fmt = lambda v: f"{v:.4f}" if isinstance(v, float) else str(v)
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(fmt(r.get(c, "")) for c in columns) + " |" for r in rows]
    return "\n".join(lines)


# keys that never change what a run learns or how it is judged (besides provenance.NON_RESULT_KEYS)
_NOT_A_SETTING = ("seed", "device", "data_root", "graph_cache", "deterministic", "retain_freed_memory")


def ranker_table(patterns: list[str]) -> list[dict]:
    """Test AUC of the runs ``patterns`` name, mean ± std over the runs whose configs agree on every
    result-relevant value but the seed: a row is one configuration, never an average over datasets, splits
    or feature settings. Each row names the model, its item fields and every other value that differs
    between the rows (``settings``)."""
    runs = []
    for path in ranker_runs(patterns):
        r = json.loads(path.read_text())
        saved = path.parent / ".hydra" / "config.yaml"
        config = OmegaConf.to_container(OmegaConf.load(saved), resolve=False) if saved.is_file() else {}
        flat = {k: json.dumps(v, sort_keys=True, default=str) for k, v in flatten(result_config(config)).items()
                if k not in _NOT_A_SETTING}
        if "auc" in (r.get("test") or {}):
            fields = ",".join((config.get("model") or {}).get("item_fields") or []) or "none"
            runs.append((r.get("model", "?"), fields, flat, float(r["test"]["auc"])))

    def differing(members: list[tuple], model_keys: bool) -> list[str]:
        keys = sorted({k for _, _, flat, _ in members for k in flat if k.startswith("model.") == model_keys})
        return [k for k in keys if len({flat.get(k) for _, _, flat, _ in members}) > 1
                and k not in ("model.item_fields", "model.name", "model._target_")]

    across = differing(runs, model_keys=False)  # dataset, split, trainer ...: compared between every run
    within = {m: differing([r for r in runs if r[0] == m], model_keys=True) for m in {r[0] for r in runs}}
    groups: dict[tuple, list[float]] = {}
    for model, fields, flat, auc in runs:
        settings = " ".join(f"{k}={flat.get(k, '(absent)')}" for k in across + within[model])
        groups.setdefault((model, fields, settings), []).append(auc)
    return [{"model": m, "item_fields": f, "settings": s or "-", "test_auc": float(np.mean(v)),
             "std": float(np.std(v)), "runs": len(v)} for (m, f, s), v in sorted(groups.items())]


def _cjk_font() -> str | None:
    """A installed font with CJK glyphs, if any (class names of KuaiRec are Chinese)."""
    from matplotlib import font_manager

    for font in font_manager.fontManager.ttflist:
        if any(k in font.name for k in ("CJK", "WenQuanYi", "Hei", "Ming", "Song", "Noto Sans SC")):
            return font.name
    return None


def _class_label(names: np.ndarray | None, c: int, cjk: str | None) -> str:
    """The class's name, or ``class <id>`` when it cannot be drawn (non-Latin text without a CJK font)."""
    if names is None or c >= len(names):
        return f"class {c}"
    name = str(names[c])
    return name if name.isascii() or cjk else f"class {c}"


def plot_topics(reps: dict[str, np.ndarray], centres: np.ndarray, names: np.ndarray | None, path: Path,
                title: str, seed: int = 0) -> Path:
    from graphrec.viz.figure import pyplot, save_figure

    plt = pyplot()
    cjk = _cjk_font()
    if cjk:
        plt.rcParams["font.family"] = [cjk, "sans-serif"]
    a = torch.from_numpy(reps["topic_vector"]).float()
    rng = np.random.default_rng(seed)
    shown = np.sort(rng.choice(a.shape[0], min(5000, a.shape[0]), replace=False))
    mean = a.mean(0)
    with torch.random.fork_rng():  # pca_lowrank draws a random projection: the same figure for a seed
        torch.manual_seed(seed)
        _, _, v = torch.pca_lowrank(a - mean, q=2, center=False)
    xy = ((a[shown] - mean) @ v).numpy()
    cxy = ((torch.from_numpy(centres).float() - mean) @ v).numpy()
    primary = reps["primary"][shown]
    classes, counts = np.unique(primary[primary >= 0], return_counts=True)
    top = classes[np.argsort(-counts)][:9]
    fig, ax = plt.subplots(figsize=(8, 7))
    other = ~np.isin(primary, top)
    ax.scatter(xy[other, 0], xy[other, 1], s=3, c="lightgrey", label="other / unknown")
    for c in top:
        m = primary == c
        label = _class_label(names, int(c), cjk)
        ax.scatter(xy[m, 0], xy[m, 1], s=4, label=label)
    ax.scatter(cxy[:, 0], cxy[:, 1], marker="x", c="black", s=12, linewidths=0.8, label="topic centres")
    ax.set_title(title)
    ax.set_xlabel("PC 1")
    ax.set_ylabel("PC 2")
    ax.legend(markerscale=3, fontsize=7, loc="best")
    return save_figure(fig, path)


def report_topics(cfg: DictConfig, run_dir: Path) -> dict:
    fit_dir, fit = read_stage(cfg.fit_dir, "fit", "fit_dir")
    reps = load_npz(fit_dir / "representations.npz")
    centres = load_npz(fit_dir / "centres.npz")["centres"]
    seed = int(fit["seed"])
    tables: dict[str, list[dict]] = {"representations": table_one(reps, seed)}
    md = [f"# Topics of {fit['dataset']} (fit {fit_dir}, seed {seed})", "",
          "## Representation study (MTL Table I analogue; held-out items)", "",
          _markdown(tables["representations"], ["representation", "dim", "pc_ari", "pc_nmi", "sc_ari", "sc_nmi",
                                                "pc_k", "sc_k", "pc_items", "sc_items"])]
    ds = None
    if cfg.get("assign_dir"):
        assign_dir, assign = read_stage(cfg.assign_dir, "assign", "assign_dir")
        pairs = load_npz(assign_dir / "assignments.npz")
        ds = load_configured_dataset(cfg.dataset, cfg.get("data_root"))
        if ds.impressions:
            tables["queues"] = queue_recall(ds, pairs["item"], pairs["topic"], cfg.eval, cfg.queues, "test", seed)
            n3 = int(cfg.queues.n3)
            md += ["", f"## Candidate generation (topic queues, τ3 {assign['tau3']:.4f}: "
                   f"{assign['topics_per_item']['mean']:.2f} topics per item)", "",
                   _markdown(tables["queues"], ["queue", "part", f"recall@{n3}", "users",
                                                "users_without_training_clicks", "qualified_items"])]
    if cfg.get("rankers"):
        tables["rankers"] = ranker_table(list(cfg.rankers))
        md += ["", "## Rankers without / with topic ids (MTL Table II analogue; test AUC)", "",
               _markdown(tables["rankers"], ["model", "item_fields", "settings", "test_auc", "std", "runs"])]
    ds = ds or load_configured_dataset(cfg.dataset, cfg.get("data_root"))
    names = ds.extras.get("primary_names")
    figure = plot_topics(reps, centres, names, run_dir / "figures" / "topics.png",
                         f"{fit['dataset']}: {centres.shape[0]} topics, items coloured by primary class", seed)
    if names is not None and len(names):
        md += ["", "## Primary classes (figure legend: class <id>)", "",
               ", ".join(f"{i} {n}" for i, n in enumerate(names))]
    write_text(run_dir / "tables.md", "\n".join(md) + "\n")
    write_json(tables, run_dir / "tables.json")
    results = {"stage": "report", "fit_dir": str(fit_dir), "tables": tables, "figure": str(figure)}
    write_json(results, run_dir / "results.json")
    print("\n".join(md))
    return results
