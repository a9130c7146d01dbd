"""Run loggers: console, CSV (``metrics.csv``, one row per epoch) and Weights & Biases.

Each implements ``start(config)``, ``log_epoch(row)``, ``log_results(results)``, ``log_image(name, path)``
and ``finish()``. The W&B logger defaults to offline mode so it works with no network.
"""

from __future__ import annotations

import csv
import io
import logging
from pathlib import Path
from typing import Any

from graphrec.atomic import write_text

log = logging.getLogger("graphrec")


def _fmt(value: Any) -> str:
    return f"{value:.4f}" if isinstance(value, float) else str(value)


class Logger:
    def start(self, config: dict) -> None: ...
    def log_epoch(self, row: dict[str, Any]) -> None: ...
    def log_results(self, results: dict[str, Any]) -> None: ...
    def log_image(self, name: str, path: str | Path) -> None: ...
    def finish(self) -> None: ...


class ConsoleLogger(Logger):
    def log_epoch(self, row: dict[str, Any]) -> None:
        parts = [f"epoch {row['epoch']:>4d}"]
        parts += [f"{k} {_fmt(v)}" for k, v in row.items() if k.startswith(("loss", "valid/"))]
        parts.append(f"{row.get('train_s', 0.0):.2f}s" + (f" + eval {row['valid_s']:.2f}s" if "valid_s" in row else ""))
        log.info(" | ".join(parts))

    def log_results(self, results: dict[str, Any]) -> None:
        for part in ("valid", "test"):
            if results.get(part):
                log.info(f"{part}: " + "  ".join(f"{k} {_fmt(v)}" for k, v in results[part].items()))


class CSVLogger(Logger):
    """Rewrites ``metrics.csv`` atomically after every epoch from the full history (resume-safe)."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.rows: list[dict[str, Any]] = []

    def restore(self, rows: list[dict[str, Any]]) -> None:
        self.rows = [dict(r) for r in rows]

    def log_epoch(self, row: dict[str, Any]) -> None:
        self.rows.append(dict(row))
        fields: list[str] = []
        for r in self.rows:
            fields += [k for k in r if k not in fields]
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=fields)
        writer.writeheader()
        writer.writerows(self.rows)
        write_text(self.path, buf.getvalue())


class WandbLogger(Logger):
    """One W&B run per job; multirun jobs are grouped under their sweep."""

    def __init__(self, run_dir: str | Path, project: str = "graphrec", mode: str = "offline",
                 entity: str | None = None, group: str | None = None, name: str | None = None,
                 tags: list[str] | None = None):
        self.kwargs = dict(project=project, mode=mode, entity=entity, group=group, name=name, tags=tags,
                           dir=str(run_dir))
        self.run = None

    def start(self, config: dict) -> None:
        import wandb

        self.run = wandb.init(config=config, reinit="finish_previous", **self.kwargs)

    def log_epoch(self, row: dict[str, Any]) -> None:
        self.run.log({k: v for k, v in row.items() if k != "epoch"}, step=int(row["epoch"]))

    def log_results(self, results: dict[str, Any]) -> None:
        flat = {}
        for key, value in results.items():
            if isinstance(value, dict):
                flat.update({f"{key}/{k}": v for k, v in value.items()})
            else:
                flat[key] = value
        self.run.summary.update(flat)

    def log_image(self, name: str, path: str | Path) -> None:
        import wandb

        self.run.log({name: wandb.Image(str(path))})

    def finish(self) -> None:
        if self.run is not None:
            self.run.finish()
            self.run = None


class LoggerGroup(Logger):
    def __init__(self, loggers: list[Logger]):
        self.loggers = loggers

    def start(self, config: dict) -> None:
        for lg in self.loggers:
            lg.start(config)

    def log_epoch(self, row: dict[str, Any]) -> None:
        for lg in self.loggers:
            lg.log_epoch(row)

    def log_results(self, results: dict[str, Any]) -> None:
        for lg in self.loggers:
            lg.log_results(results)

    def log_image(self, name: str, path: str | Path) -> None:
        for lg in self.loggers:
            lg.log_image(name, path)

    def finish(self) -> None:
        for lg in self.loggers:
            lg.finish()

    def csv(self) -> CSVLogger | None:
        return next((lg for lg in self.loggers if isinstance(lg, CSVLogger)), None)
