"""MTIN's interest groups (its Fig. 6) and the decay of its temporal masks.

Left: for a few users, one row per training impression (evenly spread over the user's time line, oldest on top), the attention each interest group g
receives in the group-level interest mask (eq. 8, w_pg averaged over the memory slots p) of the clicked-history
branch — how the user's interest moves between groups over time. Right: the learned decay curves
exp(−Δ ω_k) of the p parallel temporal masks (eq. 6) against the position gap Δ inside a group.
Saved as ``figures/groups.png`` in the run dir.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from graphrec.errors import ConfigError
from graphrec.viz.figure import pyplot, save_figure


def group_attention(exp, user: int, max_rows: int = 20) -> tuple[np.ndarray, np.ndarray]:
    """(attention [impressions, s], their timestamps) at up to ``max_rows`` of the user's training impressions
    spread evenly over time, oldest first (each seen with its own time-causal history, which grows with time;
    valid and test impressions all share the history of the end of training)."""
    if not 0 <= user < exp.dataset.n_users:
        raise ConfigError(f"users: {user} is not a user id (0..{exp.dataset.n_users - 1})")
    records = exp.task.records
    rows = records.rows("train")
    rows = rows[records.user[rows] == user]
    if rows.size == 0:
        raise ConfigError(f"users: user {user} has no training impressions")
    rows = rows[np.argsort(records.time[rows], kind="stable")]
    rows = rows[np.unique(np.linspace(0, rows.size - 1, min(max_rows, rows.size)).round().astype(np.int64))]
    batch = {k: v.to(exp.device) for k, v in records.batch("train", rows).items()}
    exp.model.eval()
    attention = exp.model.explain(batch)["pos"]["attention"].mean(1)  # [B, s]: mean over the slots p
    return attention.cpu().numpy(), records.time[rows]


def default_users(exp, n: int = 4) -> list[int]:
    """The ``n`` users with the most training impressions."""
    records = exp.task.records
    counts = np.bincount(records.user[records.rows("train")], minlength=exp.dataset.n_users)
    return [int(u) for u in np.argsort(-counts, kind="stable")[:n] if counts[u] > 0]


def plot_groups(exp, users: list[int] | None, path: str | Path, title: str = "") -> Path:
    model = exp.model
    if not (hasattr(model, "explain") and hasattr(model, "decay_curves")):
        raise ConfigError(f"model {type(model).__name__} has no interest groups to draw (an MTIN checkpoint is needed)")
    users = users or default_users(exp)
    plt = pyplot()
    fig, axes = plt.subplots(1, len(users) + 1, figsize=(3.0 * (len(users) + 1) + 1, 4.2), dpi=120)
    maps = {user: group_attention(exp, user)[0] for user in users}
    top = max(float(a.max()) for a in maps.values())
    for ax, user in zip(axes[:-1], users):
        attention = maps[user]
        image = ax.imshow(attention, aspect="auto", cmap="Blues", vmin=0.0, vmax=top)
        ax.set_xticks(range(attention.shape[1]), [f"G{g + 1}" for g in range(attention.shape[1])])
        ax.set_ylabel("training impression (oldest at the top)")
        ax.set_title(f"user {user}")
    fig.colorbar(image, ax=axes[-2], fraction=0.08, label="group attention (eq. 8)")
    ax = axes[-1]
    for branch, curves in model.decay_curves().items():
        for k, curve in enumerate(curves.numpy()):
            ax.plot(curve, linestyle="-" if branch == "pos" else ":", color=f"C{k % 10}",
                    label=f"mask {k + 1}" if branch == "pos" else None)
    ax.set_xlabel("position gap inside a group (i − j)")
    ax.set_ylabel("exp(−Δ ω_k)")
    ax.set_title("mask decay (solid: H_pos, dotted: H_neg)", fontsize=9)
    ax.legend(fontsize=7)
    fig.suptitle(title or "interest groups")
    return save_figure(fig, path)
