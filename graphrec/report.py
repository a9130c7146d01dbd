"""``graphrec report <dir>``: one table of the training runs under a multirun or outputs folder.

Every folder below ``<dir>`` holding a ``results.json`` of ``graphrec train`` is a job; its overrides come
from ``.hydra/overrides.yaml`` (Hydra's own record), its validation metric from ``.hydra/config.yaml``
(``eval.valid_metric``). Jobs whose overrides differ only in ``seed`` form one configuration: its metrics are
the mean ± sample standard deviation over those seeds. The configuration with the best mean *validation* metric is marked (test
metrics are shown, never used to choose). Written into ``out`` (default ``<dir>``): ``report.md``,
``report.csv`` (one row per job) and ``report.png`` (the validation metric against each swept parameter,
and the validation curves per epoch from each job's ``metrics.csv``). When the jobs ran with ``logger=wandb``,
the table (one row per configuration) and the figure also go to one W&B run of ``job_type="report"`` in the
jobs' project and group (the sweep's folder name, as ``graphrec train`` groups a multirun's jobs).
"""

from __future__ import annotations

import csv
import io
import json
import logging
import re
from pathlib import Path

import numpy as np
from omegaconf import OmegaConf

from graphrec.atomic import write_text
from graphrec.errors import ConfigError
from graphrec.evaluation.metrics import best_of
from graphrec.viz.curves import read_metrics

log = logging.getLogger("graphrec")


def _key(override: str) -> str:
    return override.split("=", 1)[0].lstrip("+~")


def _short(overrides: str) -> str:
    """Long floats (an Optuna trial's draws) to 4 significant digits, for reading."""
    return re.sub(r"(?<![\w.])\d+\.\d{5,}(?:e-?\d+)?|\d\.\d+e-?\d+", lambda m: f"{float(m.group()):.4g}", overrides)


def _number(value: str) -> float | None:
    try:
        return float(value)
    except ValueError:
        return None


def _malformed(results) -> str | None:
    """What is wrong with a training job's ``results.json`` content, or None."""
    if not isinstance(results, dict):
        return "not a JSON object"
    for part in ("valid", "test"):
        metrics = results.get(part)
        if part in results and not isinstance(metrics, dict):
            return f"'{part}' is not an object of metrics"
        bad = [k for k, v in (metrics or {}).items() if isinstance(v, bool) or not isinstance(v, (int, float))]
        if bad:
            return f"'{part}/{bad[0]}' is not a number"
    if results.get("best_epoch") is not None and not isinstance(results["best_epoch"], int):
        return "'best_epoch' is not an integer"
    timing = results.get("timing")
    if timing is not None and (not isinstance(timing, dict) or not isinstance(timing.get("train_s_per_epoch", 0),
                                                                             (int, float))):
        return "'timing/train_s_per_epoch' is not a number"
    return None


def find_jobs(root: Path, skipped: list[str] | None = None) -> list[dict]:
    """The training jobs below ``root`` (module doc), sorted by path; a results.json that cannot be read, or
    whose values have the wrong types, is left out with a warning and named in ``skipped``."""
    jobs = []
    skipped = [] if skipped is None else skipped
    for path in sorted(root.rglob("results.json")):
        run = path.parent
        try:
            results = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            skipped.append(f"{path}: unreadable ({exc.__class__.__name__})")
            continue
        if isinstance(results, dict) and ("stage" in results or "valid" not in results):  # topics, foreign files
            continue
        problem = _malformed(results)
        if problem:
            skipped.append(f"{path}: {problem}")
            continue
        overrides_file, config_file = run / ".hydra" / "overrides.yaml", run / ".hydra" / "config.yaml"
        overrides = [str(o) for o in OmegaConf.load(overrides_file)] if overrides_file.is_file() else []
        config = OmegaConf.load(config_file) if config_file.is_file() else OmegaConf.create({})
        jobs.append({"dir": run, "logger": OmegaConf.to_container(config.logger) if "logger" in config else {},
                     "overrides": [o for o in overrides if _key(o) not in ("seed", "hydra.run.dir")],
                     "seed": results.get("seed"), "valid_metric": OmegaConf.select(config, "eval.valid_metric"),
                     "results": results})
    return jobs


def configurations(jobs: list[dict]) -> list[dict]:
    """Jobs grouped by their overrides without ``seed``: mean / std of every valid and test metric."""
    groups: dict[tuple[str, ...], list[dict]] = {}
    for job in jobs:
        groups.setdefault(tuple(job["overrides"]), []).append(job)
    out = []
    for overrides, members in groups.items():
        row = {"overrides": _short(" ".join(overrides)) or "(defaults)", "runs": len(members),
               "valid_metric": members[0]["valid_metric"]}
        declared = (members[0]["results"].get("metric_directions") or {}).get(row["valid_metric"])
        if declared in ("higher", "lower"):  # the task's declaration (results.json); older runs: the metric's own
            row["valid_higher_is_better"] = declared == "higher"
        for part in ("valid", "test"):
            names = sorted({m for j in members for m in (j["results"].get(part) or {})})
            for name in names:
                values = [float(j["results"][part][name]) for j in members if name in (j["results"].get(part) or {})]
                row[f"{part}/{name}"] = (float(np.mean(values)), float(np.std(values, ddof=1)) if len(values) > 1 else 0.0)
        row["best_epoch"] = float(np.mean([j["results"].get("best_epoch") or 0 for j in members]))
        row["s_per_epoch"] = float(np.mean([(j["results"].get("timing") or {}).get("train_s_per_epoch") or 0
                                            for j in members]))
        out.append(row)
    return out


def best_configuration(rows: list[dict]) -> int | None:
    """Index of the row with the best mean validation metric, in the direction its task declared (results.json's
    ``metric_directions``; for runs written before it, ``graphrec.evaluation.metrics.higher_is_better``)."""
    scored = [(i, r[f"valid/{r['valid_metric']}"][0]) for i, r in enumerate(rows)
              if r.get("valid_metric") and f"valid/{r['valid_metric']}" in r]
    if not scored:
        return None
    first = rows[scored[0][0]]
    best = best_of([v for _, v in scored], first["valid_metric"], first.get("valid_higher_is_better"))
    return None if best is None else scored[best][0]


def _fmt(value) -> str:
    if isinstance(value, tuple):
        return f"{value[0]:.4f}" if value[1] == 0 else f"{value[0]:.4f} ± {value[1]:.4f}"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))  # a best epoch (of one seed, or a whole mean): "91", not "91.00"
    return f"{value:.2f}" if isinstance(value, float) else str(value)


def _figure(jobs: list[dict], rows: list[dict], path: Path, metric: str) -> Path:
    from graphrec.viz.figure import pyplot, save_figure

    plt = pyplot()
    swept = sorted({_key(o) for j in jobs for o in j["overrides"]
                    if len({o2 for j2 in jobs for o2 in j2["overrides"] if _key(o2) == _key(o)}) > 1})
    fig, axes = plt.subplots(1, len(swept) + 1, figsize=(5 * (len(swept) + 1), 4), squeeze=False)
    for ax, key in zip(axes[0], swept):
        values = {}
        for j in jobs:
            value = next((o.split("=", 1)[1] for o in j["overrides"] if _key(o) == key), "(default)")
            if metric in (j["results"].get("valid") or {}):
                values.setdefault(value, []).append(float(j["results"]["valid"][metric]))
        numbers = {v: _number(v) for v in values}
        if len(values) > 1 and all(x is not None for x in numbers.values()):  # a numeric axis (log when wide)
            labels = sorted(values, key=lambda v: numbers[v])
            xs = [numbers[v] for v in labels]
            if min(xs) > 0 and max(xs) / min(xs) > 20:
                ax.set_xscale("log")
            if len(xs) <= 8:  # a grid's values as ticks (an Optuna search's many draws keep the default ticks)
                ax.set_xticks(xs, [_short(v) for v in labels], rotation=20)
                ax.minorticks_off()
        else:
            labels = sorted(values)
            xs = list(range(len(labels)))
            ax.set_xticks(xs, labels, rotation=20)
        ax.scatter([x for v, x in zip(labels, xs) for _ in values[v]], [y for v in labels for y in values[v]])
        ax.plot(xs, [np.mean(values[v]) for v in labels], color="black", lw=1)
        ax.set_xlabel(key)
        ax.set_ylabel(f"valid {metric}")
    ax = axes[0][-1]
    for j in jobs:
        if not (j["dir"] / "metrics.csv").is_file():
            continue
        ys = [r[f"valid/{metric}"] for r in read_metrics(j["dir"] / "metrics.csv") if f"valid/{metric}" in r]
        ax.plot(range(1, len(ys) + 1), ys, lw=1, label=_short(" ".join(j["overrides"]))[:40] + f" s{j['seed']}")
    ax.set_xlabel("epoch")
    ax.set_ylabel(f"valid {metric}")
    ax.set_title("validation curves")
    if len(jobs) <= 12:
        ax.legend(fontsize=6)
    return save_figure(fig, path)


def write_report(root: str | Path, out: str | Path | None = None) -> dict:
    root = Path(root)
    if not root.is_dir():
        raise ConfigError(f"report: {root} is not a folder")
    skipped: list[str] = []
    jobs = find_jobs(root, skipped)
    for reason in skipped:
        log.warning(f"report: skipped {reason}")
    if not jobs:
        raise ConfigError(f"report: no readable `graphrec train` results.json below {root}"
                          + (f" ({len(skipped)} skipped: {skipped[0]})" if skipped else ""))
    out = Path(out) if out else root
    common = set.intersection(*(set(j["overrides"]) for j in jobs))
    for j in jobs:  # shared overrides go to the title; the rows show what differs
        j["overrides"] = [o for o in j["overrides"] if o not in common]
    rows = configurations(jobs)
    best = best_configuration(rows)
    metric = rows[best]["valid_metric"] if best is not None else None
    columns = ["overrides", "runs"] + sorted({k for r in rows for k in r if k.startswith("valid/")}) + \
        sorted({k for r in rows for k in r if k.startswith("test/")}) + ["best_epoch", "s_per_epoch"]
    left_out = f"; {len(skipped)} results.json skipped, named below" if skipped else ""
    md = [f"# {len(jobs)} runs under {root} ({len(rows)} configurations{left_out}; best by mean valid {metric}: ★)",
          "",
          f"Common to every run: {' '.join(sorted(common)) or '(nothing)'}", "",
          "| | " + " | ".join(columns) + " |", "|---|" + "---|" * len(columns)]
    for i, r in enumerate(rows):
        md.append(f"| {'★' if i == best else ''} | " + " | ".join(_fmt(r.get(c, "")) for c in columns) + " |")
    if skipped:
        md += ["", "Skipped:", *[f"- {reason}" for reason in skipped]]
    write_text(out / "report.md", "\n".join(md) + "\n")
    job_columns = sorted({f"{p}/{m}" for j in jobs for p in ("valid", "test") for m in (j["results"].get(p) or {})})
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(["dir", "overrides", "seed", *job_columns, "best_epoch", "s_per_epoch"])
    for j in jobs:
        writer.writerow([str(j["dir"]), " ".join(j["overrides"]), j["seed"],
                         *[(j["results"].get(c.split("/", 1)[0]) or {}).get(c.split("/", 1)[1], "") for c in job_columns],
                         j["results"].get("best_epoch"), (j["results"].get("timing") or {}).get("train_s_per_epoch")])
    write_text(out / "report.csv", buf.getvalue())
    figure = _figure(jobs, rows, out / "report.png", metric) if metric else None
    print("\n".join(md))
    wandb_run = _log_to_wandb(jobs, root, out, columns, rows, best, figure)
    return {"rows": rows, "best": best, "figure": str(figure) if figure else None, "wandb": wandb_run}


def _log_to_wandb(jobs: list[dict], root: Path, out: Path, columns: list[str], rows: list[dict], best: int | None,
                  figure: Path | None) -> str | None:
    """The report as a W&B table (and image) when the jobs logged to W&B; returns the run's folder."""
    settings = next((j["logger"] for j in jobs if j["logger"].get("kind") == "wandb"), None)
    if settings is None:
        return None
    import wandb

    run = wandb.init(project=settings.get("project", "graphrec"), mode=settings.get("mode", "offline"),
                     entity=settings.get("entity"), group=settings.get("group") or root.name, job_type="report",
                     name=f"report {root.name}", dir=str(out), reinit="finish_previous")
    table = wandb.Table(columns=["best", *columns])
    for i, r in enumerate(rows):
        table.add_data(i == best, *[(v[0] if isinstance(v, tuple) else v) for v in (r.get(c, None) for c in columns)])
    run.log({"report": table, **({"report_figure": wandb.Image(str(figure))} if figure else {})})
    if best is not None:
        run.summary.update({"best/overrides": rows[best]["overrides"],
                            **{k: v[0] for k, v in rows[best].items() if isinstance(v, tuple)}})
    folder = run.dir
    run.finish()
    return str(Path(folder).parent)
