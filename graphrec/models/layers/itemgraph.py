"""Pieces shared by the models that add an item–item graph to LightGCN (LATTICE, FREEDOM, DRAGON, PGL).

- ``modality_knn_spec``: the frozen per-modality kNN graph both papers build from raw features: top-k over a
  similarity row that includes the item itself, normalised as â_ij = a_ij / sqrt(r_i r_j) (row sums r);
- ``FrozenItemGraph``: FREEDOM's frozen graph, those kNN graphs (binary) summed with ``modality_weights``
  (DRAGON, MENTOR and PGL build the same one);
- ``FrozenItemRefinement``: the mixin of DRAGON and MENTOR that declares that graph and refines item rows with
  it, e_i ← e_i + S^L e_i;
- ``ModalityProjections``: W_m x_i per modality, with the raw features x trainable (``tune``) as both official
  codes make them (``nn.Embedding.from_pretrained(..., freeze=False)``).
"""

from __future__ import annotations

import torch
from torch import nn

from graphrec.graphs.sparse import SparseGraph, weighted_sum
from graphrec.graphs.store import GraphSpec


def modality_knn_spec(modality: str, k: int, binary: bool) -> GraphSpec:
    return GraphSpec("knn", {"modality": modality, "k": k, "include_self": True, "binary": binary,
                             "norm": "row_symmetric"})


def modality_weights(modalities: list[str], image_weight: float) -> dict[str, float]:
    """``image_weight`` for 'visual', the rest split evenly among the other modalities; 1 for a single one."""
    if len(modalities) == 1:
        return {modalities[0]: 1.0}
    others = [m for m in modalities if m != "visual"]
    rest = (1.0 - image_weight) if "visual" in modalities else 1.0
    weights = {m: rest / len(others) for m in others}
    if "visual" in modalities:
        weights["visual"] = image_weight
    return weights


class FrozenItemGraph:
    """S = Σ_m w_m S_m over binary per-modality kNN graphs (``modality_knn_spec``), built once from the raw
    features; the graphs are declared as ``knn_<modality>`` specs and summed when the store hands them over."""

    def __init__(self, modalities: list[str], k: int, image_weight: float):
        self.modalities, self.k = list(modalities), int(k)
        self.weights = modality_weights(self.modalities, image_weight)

    def specs(self) -> dict[str, GraphSpec]:
        return {f"knn_{m}": modality_knn_spec(m, self.k, binary=True) for m in self.modalities}

    def build(self, graphs: dict[str, SparseGraph]) -> SparseGraph:
        return weighted_sum([graphs[f"knn_{m}"] for m in self.modalities], [self.weights[m] for m in self.modalities])


class FrozenItemRefinement:
    """Mixin (before the ``Recommender`` base): ``self.frozen`` (a ``FrozenItemGraph``) joins the graph specs, is
    built when the graphs are attached, and ``refine_items(e) = e + S^L e`` with L = ``self.n_mm_layers``."""

    frozen: FrozenItemGraph
    n_mm_layers: int

    def graph_specs(self) -> dict[str, GraphSpec]:
        return {**super().graph_specs(), **self.frozen.specs()}

    def attach_graphs(self, graphs: dict[str, SparseGraph]) -> None:
        super().attach_graphs(graphs)
        self.item_graph = self.frozen.build(graphs)

    def refine_items(self, items: torch.Tensor) -> torch.Tensor:
        h = items
        for _ in range(self.n_mm_layers):
            h = self.item_graph @ h
        return items + h


class ModalityProjections(nn.Module):
    def __init__(self, features: dict[str, torch.Tensor], out_dim: int, tune: bool,
                 init=nn.init.xavier_uniform_):
        """``init`` is applied to each W_m; ``None`` keeps ``nn.Linear``'s own initialisation."""
        super().__init__()
        self.linear = nn.ModuleDict({m: nn.Linear(f.shape[1], out_dim) for m, f in features.items()})
        for layer in self.linear.values():
            if init is not None:
                init(layer.weight)
        self.tuned = nn.ParameterDict({m: nn.Parameter(f.float().clone()) for m, f in features.items()}) \
            if tune else None
        if not tune:
            for m, f in features.items():
                self.register_buffer(f"feat_{m}", f.float(), persistent=False)

    def forward(self, modality: str, rows: torch.Tensor | None = None) -> torch.Tensor:
        """W_m x_i + b_m for every item, or for the items ``rows`` only."""
        x = self.tuned[modality] if self.tuned is not None else getattr(self, f"feat_{modality}")
        return self.linear[modality](x if rows is None else x[rows])

