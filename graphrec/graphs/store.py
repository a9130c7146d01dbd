"""``GraphSpec`` (what a model declares) and ``GraphStore`` (builds, caches and hands over graphs).

Builders are registered by kind and read only the training split (and item features):
- ``bipartite``: user–item graph, params ``norm`` (symmetric | row | plus_one | none), ``self_loops``;
- ``cointeraction``: item–item, params ``min_users`` (HUIGN: 5), ``top_k``;
- ``knn``: item–item from one modality, params ``modality``, ``k``, ``symmetric``, ``binary``, ``include_self``,
  ``norm``;
- ``item_constraint``: UltraGCN's top-``k`` item–item constraint weights ω (eq. 12);
- ``surfing``: random-surfing full adjacency of another graph, params ``of`` (that graph's spec as
  ``{"kind": ..., **params}``), ``K``, ``alpha``, ``top_k``.
Built graphs are cached under ``<cache_dir>/<hash>.npz``, keyed by a hash of the builder's inputs (training
interactions or the features it reads), its parameters and ``BUILDER_VERSION``; a cache file is written atomically and reused
only when every input is identical.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from graphrec.errors import ConfigError, DataError
from graphrec.graphs.bipartite import bipartite_graph
from graphrec.graphs.cointeraction import cointeraction_graph
from graphrec.graphs.constraint import item_constraint_graph
from graphrec.graphs.knn import knn_graph
from graphrec.graphs.sparse import SparseGraph
from graphrec.graphs.surfing import surfing_graph


# part of every cache key: bump when a builder's output changes for the same inputs, so old caches are not used
BUILDER_VERSION = 2  # 2: row-normalised graphs of symmetric ones are no longer flagged symmetric


@dataclass(frozen=True)
class GraphSpec:
    """A graph a model consumes: a builder ``kind`` and its parameters."""

    kind: str
    params: dict = field(default_factory=dict)

    def key(self) -> str:
        return json.dumps({"kind": self.kind, **self.params}, sort_keys=True, default=str)


@dataclass
class TrainingGraphInput:
    """What builders may read: the training split only, plus item features."""

    user: torch.Tensor
    item: torch.Tensor
    n_users: int
    n_items: int
    features: dict[str, torch.Tensor] = field(default_factory=dict)


def _feature(data: TrainingGraphInput, modality: str) -> torch.Tensor:
    if modality not in data.features:
        raise ConfigError(f"graph modality '{modality}': the dataset has {sorted(data.features) or 'no features'}")
    return data.features[modality]


def _base_spec(of) -> GraphSpec:
    if isinstance(of, GraphSpec):
        return of
    if isinstance(of, str):
        return GraphSpec(of, {})
    params = dict(of)
    return GraphSpec(params.pop("kind"), params)


BuildFn = Callable[["GraphStore", TrainingGraphInput, dict], SparseGraph]
BUILDERS: dict[str, BuildFn] = {
    "bipartite": lambda store, d, p: bipartite_graph(d.user, d.item, d.n_users, d.n_items, **p),
    "cointeraction": lambda store, d, p: cointeraction_graph(d.user, d.item, d.n_users, d.n_items, **p),
    "item_constraint": lambda store, d, p: item_constraint_graph(d.user, d.item, d.n_users, d.n_items, **p),
    "knn": lambda store, d, p: knn_graph(_feature(d, p["modality"]), **{k: v for k, v in p.items() if k != "modality"},
                                         what=f"feature '{p['modality']}'"),
    "surfing": lambda store, d, p: surfing_graph(store.get(_base_spec(p["of"])),
                                                 **{k: v for k, v in p.items() if k != "of"}),
}


def _hash_tensors(*tensors: torch.Tensor) -> str:
    h = hashlib.sha256()
    for t in tensors:
        arr = t.detach().cpu().contiguous().numpy()
        h.update(str((arr.dtype, arr.shape)).encode())
        h.update(arr.tobytes())
    return h.hexdigest()


class GraphStore:
    """Builds the graphs a model declares from the training split, with an optional on-disk cache."""

    def __init__(self, data: TrainingGraphInput, cache_dir: str | Path | None = None):
        if data.user.numel() == 0:
            raise DataError("the training split is empty: no graph can be built")
        self.data = data
        self.cache_dir = Path(cache_dir) if cache_dir is not None else None
        self.build_seconds: dict[str, float] = {}
        self.cache_hits: dict[str, bool] = {}
        self._memory: dict[str, SparseGraph] = {}
        self._input_hashes: dict[str, str] = {}

    # ------------------------------------------------------------------ keys
    def _inputs_hash(self, spec: GraphSpec) -> str:
        if spec.kind == "knn":
            name = f"feat:{spec.params.get('modality')}"
            if name not in self._input_hashes:
                self._input_hashes[name] = _hash_tensors(_feature(self.data, spec.params["modality"]))
            return self._input_hashes[name]
        if spec.kind == "surfing":
            return self._inputs_hash(_base_spec(spec.params["of"]))
        if "train" not in self._input_hashes:
            d = self.data
            self._input_hashes["train"] = _hash_tensors(d.user, d.item, torch.tensor([d.n_users, d.n_items]))
        return self._input_hashes["train"]

    def cache_key(self, spec: GraphSpec) -> str:
        text = f"v{BUILDER_VERSION}|{spec.key()}|{self._inputs_hash(spec)}"
        return hashlib.sha256(text.encode()).hexdigest()[:24]

    # ------------------------------------------------------------------ building
    def get(self, spec: GraphSpec) -> SparseGraph:
        """The graph for ``spec`` (memory, then disk cache, then built), on CPU."""
        if spec.kind not in BUILDERS:
            raise ConfigError(f"graph kind '{spec.kind}' is unknown (choose from {', '.join(BUILDERS)})")
        key = self.cache_key(spec)
        if key in self._memory:
            return self._memory[key]
        path = self.cache_dir / f"{key}.npz" if self.cache_dir is not None else None
        graph = _load(path) if path is not None and path.is_file() else None
        self.cache_hits[spec.key()] = graph is not None
        if graph is None:
            start = time.perf_counter()
            try:
                graph = BUILDERS[spec.kind](self, self.data, dict(spec.params))
            except TypeError as exc:
                raise ConfigError(f"graph '{spec.kind}': bad parameter ({exc})") from None
            self.build_seconds[spec.key()] = time.perf_counter() - start
            if path is not None:
                _save(graph, path)
        self._memory[key] = graph
        return graph

    def build(self, specs: dict[str, GraphSpec], device: torch.device | str = "cpu") -> dict[str, SparseGraph]:
        return {name: self.get(spec).to(device) for name, spec in specs.items()}

    @property
    def total_seconds(self) -> float:
        return float(sum(self.build_seconds.values()))


def _save(graph: SparseGraph, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, crow=graph.crow.cpu().numpy(), col=graph.col.cpu().numpy(),
                     values=graph.values.detach().cpu().numpy(), shape=np.array(graph.shape, dtype=np.int64),
                     symmetric=np.array(graph.symmetric))
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _load(path: Path) -> SparseGraph | None:
    """A cached graph, or None when the file is unreadable (it is then rebuilt and rewritten)."""
    try:
        with np.load(path, allow_pickle=False) as z:
            return SparseGraph(torch.from_numpy(z["crow"]), torch.from_numpy(z["col"]), torch.from_numpy(z["values"]),
                               tuple(int(s) for s in z["shape"]), bool(z["symmetric"]))
    except Exception:
        return None


def degree_stats(graph: SparseGraph) -> dict[str, float]:
    """Node/edge counts and out-degree statistics (unweighted), for ``graphrec graphs info``."""
    deg = (graph.crow[1:] - graph.crow[:-1]).double()
    return {"nodes": graph.shape[0], "edges": graph.nnz, "symmetric": graph.symmetric,
            "degree_min": int(deg.min()) if deg.numel() else 0, "degree_median": float(deg.median()) if deg.numel() else 0,
            "degree_mean": float(deg.mean()) if deg.numel() else 0, "degree_max": int(deg.max()) if deg.numel() else 0,
            "isolated_nodes": int((deg == 0).sum()),
            "weight_min": float(graph.values.min()) if graph.nnz else 0.0,
            "weight_max": float(graph.values.max()) if graph.nnz else 0.0}
