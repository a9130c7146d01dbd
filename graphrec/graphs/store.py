"""``GraphSpec`` (what a model declares) and ``GraphStore`` (builds the declared graphs from training data).

Builders are registered by kind; each takes the training interactions (and item features) and the spec's
parameters, and returns a ``SparseGraph``. Graphs are built once, before the first epoch, then moved to the
model's device.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from graphrec.errors import ConfigError
from graphrec.graphs.bipartite import bipartite_graph
from graphrec.graphs.sparse import SparseGraph


@dataclass(frozen=True)
class GraphSpec:
    """A graph a model consumes: a builder ``kind`` and its parameters."""

    kind: str
    params: dict = field(default_factory=dict)

    def key(self) -> str:
        return self.kind + "(" + ",".join(f"{k}={self.params[k]}" for k in sorted(self.params)) + ")"


@dataclass
class TrainingGraphInput:
    """What builders may read: the training split only, plus item features."""

    user: torch.Tensor
    item: torch.Tensor
    n_users: int
    n_items: int
    features: dict[str, torch.Tensor] = field(default_factory=dict)


def _build_bipartite(data: TrainingGraphInput, **params) -> SparseGraph:
    return bipartite_graph(data.user, data.item, data.n_users, data.n_items, **params)


BUILDERS: dict[str, Callable[..., SparseGraph]] = {"bipartite": _build_bipartite}


class GraphStore:
    """Builds the graphs a model declares from the training split and hands them over on ``device``."""

    def __init__(self, data: TrainingGraphInput):
        self.data = data
        self.build_seconds: dict[str, float] = {}

    def build(self, specs: dict[str, GraphSpec], device: torch.device | str = "cpu") -> dict[str, SparseGraph]:
        graphs = {}
        for name, spec in specs.items():
            if spec.kind not in BUILDERS:
                raise ConfigError(f"graph '{name}': unknown kind '{spec.kind}' (choose from {', '.join(BUILDERS)})")
            start = time.perf_counter()
            graphs[name] = BUILDERS[spec.kind](self.data, **spec.params).to(device)
            self.build_seconds[name] = time.perf_counter() - start
        return graphs

    @property
    def total_seconds(self) -> float:
        return float(sum(self.build_seconds.values()))
