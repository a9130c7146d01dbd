"""Learning curves of one run (``graphrec viz curves``): the loss terms and the validation metrics per epoch
from its ``metrics.csv``, the best epoch (``results.json``) marked."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from graphrec.errors import GraphrecError


def read_metrics(path: Path) -> list[dict[str, float]]:
    """The rows of a run's ``metrics.csv`` as numbers (empty cells left out)."""
    if not path.is_file():
        raise GraphrecError(f"{path}: missing (no epochs were logged for this run)")
    rows = []
    for row in csv.DictReader(io.StringIO(path.read_text())):
        rows.append({k: float(v) for k, v in row.items() if k and v not in ("", None)})
    return rows


def plot_curves(run_dir: Path, best_epoch: int | None, out: Path, title: str) -> Path:
    from graphrec.viz.figure import pyplot, save_figure

    rows = read_metrics(run_dir / "metrics.csv")
    plt = pyplot()
    fig, (loss_ax, valid_ax) = plt.subplots(1, 2, figsize=(11, 4))
    for ax, prefix in ((loss_ax, "loss"), (valid_ax, "valid/")):
        names = sorted({k for r in rows for k in r if k.startswith(prefix)})
        for name in names:
            points = [(r["epoch"], r[name]) for r in rows if name in r]
            ax.plot([p[0] for p in points], [p[1] for p in points], label=name, lw=1.2)
        if best_epoch:
            ax.axvline(best_epoch, color="black", ls="--", lw=0.8, label=f"best epoch {best_epoch}")
        ax.set_xlabel("epoch")
        ax.legend(fontsize=7)
    loss_ax.set_title("training loss terms")
    valid_ax.set_title("validation metrics")
    fig.suptitle(title)
    return save_figure(fig, out)
