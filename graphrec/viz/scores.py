"""Per-user distributions of predicted scores (A²BM²GL Fig. 3): for each chosen user, histograms of the scores
s_uv of the items the user holds out (test positives) and of the items the user never interacted with
(negatives), with the learned boundaries B⁺_u and B⁻_u marked when the model has them (``boundaries``).
Saved as ``figures/scores.png`` in the run dir.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from graphrec.errors import ConfigError
from graphrec.viz.figure import pyplot, save_figure


def user_score_groups(exp, user: int) -> dict[str, np.ndarray]:
    """Scores of one user's test positives and of all items in none of the user's splits."""
    if not 0 <= user < exp.dataset.n_users:
        raise ConfigError(f"users: {user} is not a user id (0..{exp.dataset.n_users - 1})")
    model = exp.model
    model.eval()
    with torch.no_grad():
        scores = model.score(torch.tensor([user], device=exp.device))[0].cpu().numpy()
    seen = np.zeros(exp.dataset.n_items, dtype=bool)
    for index in exp.task.csr.values():
        seen[index.user_items(user).cpu().numpy()] = True
    return {"test positives": scores[exp.task.csr["test"].user_items(user).cpu().numpy()], "negatives": scores[~seen]}


def user_boundaries(model, user: int) -> tuple[float, float] | None:
    if not hasattr(model, "boundaries"):
        return None
    with torch.no_grad():
        users, items = model.embeddings()
        index = torch.tensor([user], device=users.device)
        upper, lower = model.boundaries(index, users[index], items)
    return float(upper[0]), float(lower[0])


def plot_scores(exp, users: list[int], path: str | Path, title: str = "") -> Path:
    plt = pyplot()
    if not users:
        raise ConfigError("users: give at least one user id, e.g. users=[0,1]")
    fig, axes = plt.subplots(1, len(users), figsize=(4.5 * len(users), 3.6), dpi=120, squeeze=False)
    for ax, user in zip(axes[0], users):
        groups = user_score_groups(exp, user)
        bins = np.histogram_bin_edges(np.concatenate(list(groups.values())), bins=40)  # one grid for both
        for (name, values), colour in zip(groups.items(), ("tab:red", "tab:blue")):
            if values.size:
                ax.hist(values, bins=bins, density=True, alpha=0.55, color=colour,
                        label=f"{name} (n={values.size}, mean {values.mean():.2f})")
        bounds = user_boundaries(exp.model, user)
        if bounds is not None:
            ax.axvline(bounds[0], color="tab:red", linestyle="--", label=f"B⁺ {bounds[0]:.2f}")
            ax.axvline(bounds[1], color="tab:blue", linestyle="--", label=f"B⁻ {bounds[1]:.2f}")
        ax.set_title(f"user {user}")
        ax.set_xlabel("score  e_u · e_v")
        ax.legend(fontsize=7)
    axes[0][0].set_ylabel("density")
    fig.suptitle(title or "predicted score distributions")
    return save_figure(fig, path)
