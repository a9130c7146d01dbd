"""Items drawn by their learned intent representation (HUIGN Fig. 4): PCA to 2-D, coloured by top-level intent.

The representation is the modality sum of the concatenated per-level distributions (eq. 12, 14); the colour
is the argmax of the top-level distribution. Saved as ``figures/intents.png`` in the run dir.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from graphrec.errors import ConfigError
from graphrec.viz.figure import pyplot, save_figure


def pca_2d(x: torch.Tensor) -> np.ndarray:
    """Projection of the centred rows of ``x`` on their first two principal directions."""
    x = x.double() - x.double().mean(0, keepdim=True)
    _, _, v = torch.linalg.svd(x, full_matrices=False)
    return (x @ v[:2].T).numpy()


def item_intents(model) -> tuple[torch.Tensor, torch.Tensor]:
    """(representation [n_items, Σ K], top-level intent [n_items]) from a model with ``intents()``."""
    if not hasattr(model, "intents"):
        raise ConfigError(f"model {type(model).__name__} learns no intents to draw")
    with torch.no_grad():
        per_modality = model.intents()
    rep = sum(torch.cat(levels, dim=1) for levels in per_modality.values()).cpu()
    top = sum(levels[-1] for levels in per_modality.values()).argmax(1).cpu()
    return rep, top


def plot_intents(model, path: str | Path, title: str = "") -> Path:
    plt = pyplot()
    rep, top = item_intents(model)
    xy = pca_2d(rep)
    fig, ax = plt.subplots(figsize=(6.5, 5.5), dpi=120)
    scatter = ax.scatter(xy[:, 0], xy[:, 1], c=top.numpy(), cmap="tab10", s=6, alpha=0.7, linewidths=0)
    ax.legend(*scatter.legend_elements(), title="top-level intent", loc="best", fontsize=8, markerscale=1.5)
    ax.set_xlabel("PC 1")
    ax.set_ylabel("PC 2")
    ax.set_title(title or f"items by learned intents ({rep.shape[0]:,} items)")
    return save_figure(fig, path)
