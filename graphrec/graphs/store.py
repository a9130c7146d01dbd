"""``GraphSpec`` (what a model declares) and ``GraphStore`` (builds, caches and hands over graphs).

Builders are registered by kind and read only the training split (and item features):
- ``bipartite``: user–item graph, params ``norm`` (symmetric | row | plus_one | none), ``self_loops``;
- ``cointeraction``: item–item, params ``min_users`` (HUIGN: 5), ``top_k``;
- ``user_cooccurrence``: user–user shared-item counts, params ``min_items``, ``top_k`` (DualGNN / DRAGON: 40),
  ``norm`` (``softmax`` over a row's kept neighbours, or ``none``);
- ``knn``: item–item from one modality (or a list, concatenated), params ``modality``, ``k``, ``symmetric``,
  ``binary``, ``include_self``, ``norm``, ``shrink``;
- ``consistent_knn``: item–item kNN of ``modality`` among pairs similar above average in every modality of the
  dataset (DA-MRS), params ``modality``, ``k``, ``binary``, ``norm``;
- ``item_constraint``: UltraGCN's top-``k`` item–item constraint weights ω (eq. 12);
- ``surfing``: random-surfing full adjacency of another graph, params ``of`` (that graph's spec as
  ``{"kind": ..., **params}``), ``K``, ``alpha``, ``top_k``;
- ``tag_cooccurrence``: tag–tag, MTL's edge probabilities of eq. 3 over the item tags the input carries.
Each builder declares the inputs its cache key covers (``train``: the training interactions and counts;
``tags``: the (item, tag) pairs;
``feature``: the modality it reads; ``base``: the key of the graph it transforms) and the parameters it takes
(its function's keyword arguments, type-checked against their defaults, plus the store-level ``modality`` /
``of``; ``features``: every modality of the dataset). Built graphs are cached under ``<cache_dir>/<key>.npz``, the key a hash of ``BUILDER_VERSION``, the
kind, its parameters and its declared inputs. A cache file carries its key and a checksum and is checked on
load (key, checksum, dtypes, shape, CSR structure, index ranges, finite values); a file that fails any check
is rebuilt and rewritten with a one-line warning. A cache folder that cannot be written turns caching off,
with a warning, instead of failing the run.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from graphrec.atomic import atomic_write
from graphrec.errors import ConfigError, DataError, GraphrecError
from graphrec.graphs.bipartite import bipartite_graph
from graphrec.graphs.cointeraction import cointeraction_graph, user_cooccurrence_graph
from graphrec.graphs.consistent_knn import consistent_knn_graph
from graphrec.graphs.constraint import item_constraint_graph
from graphrec.graphs.knn import knn_graph
from graphrec.graphs.sparse import SparseGraph
from graphrec.graphs.surfing import surfing_graph
from graphrec.graphs.tag_cooccurrence import tag_cooccurrence_graph


# part of every cache key: bump when a builder's output changes for the same inputs, so old caches are not used
BUILDER_VERSION = 3  # 2: row-normalised graphs of symmetric ones are no longer flagged symmetric; 3: key + checksum

log = logging.getLogger("graphrec")


@dataclass(frozen=True)
class GraphSpec:
    """A graph a model consumes: a builder ``kind`` and its parameters."""

    kind: str
    params: dict = field(default_factory=dict)

    def key(self) -> str:
        return json.dumps({"kind": self.kind, **self.params}, sort_keys=True, default=str)


@dataclass
class TrainingGraphInput:
    """What builders may read: the training split only, plus item features and item tags (those known at
    training time: ``tag_item`` / ``tag`` pairs over ``n_tags`` tags)."""

    user: torch.Tensor
    item: torch.Tensor
    n_users: int
    n_items: int
    features: dict[str, torch.Tensor] = field(default_factory=dict)
    tag_item: torch.Tensor | None = None
    tag: torch.Tensor | None = None
    n_tags: int = 0


def _feature(data: TrainingGraphInput, modality: str | list[str]) -> torch.Tensor:
    """One modality's features, or several concatenated in the order given (``modality: [visual, acoustic]``)."""
    names = [modality] if isinstance(modality, str) else list(modality)
    for name in names:
        if name not in data.features:
            raise ConfigError(f"graph modality '{name}': the dataset has {sorted(data.features) or 'no features'}")
    if len(names) == 1:
        return data.features[names[0]]
    return torch.cat([data.features[name].float() for name in names], dim=1)


def _base_spec(of) -> GraphSpec:
    if isinstance(of, GraphSpec):
        return of
    if isinstance(of, str):
        return GraphSpec(of, {})
    if not isinstance(of, dict) or "kind" not in of:
        raise ConfigError(f"graph 'surfing': 'of' must name the base graph's kind, got {of!r}")
    params = dict(of)
    return GraphSpec(params.pop("kind"), params)


# arguments a builder function receives from the store rather than from the spec's parameters
_DATA_ARGS = {"user", "item", "n_users", "n_items", "features", "graph", "what"}


@dataclass(frozen=True)
class Builder:
    """A graph function, the inputs its cache key covers, and the store-level parameters it requires."""

    fn: Callable[..., SparseGraph]
    inputs: tuple[str, ...]  # "train" | "feature" | "features" | "base" | "tags"
    required: tuple[str, ...] = ()

    def parameters(self) -> dict[str, inspect.Parameter]:
        return {n: p for n, p in inspect.signature(self.fn).parameters.items() if n not in _DATA_ARGS}

    def check(self, kind: str, params: dict) -> None:
        """Unknown, missing and mistyped parameters are ConfigErrors naming ``graph.<param>``."""
        own = self.parameters()
        for name in self.required:
            if name not in params:
                raise ConfigError(f"graph '{kind}': missing parameter graph.{name}")
        for name, value in params.items():
            if name in self.required:
                continue
            if name not in own:
                raise ConfigError(f"graph '{kind}': unknown parameter graph.{name} "
                                  f"(parameters: {', '.join([*self.required, *own])})")
            default = own[name].default
            if default is None or default is inspect.Parameter.empty:
                continue
            expected = (int, float) if type(default) is float else type(default)
            if isinstance(value, bool) and type(default) is not bool or not isinstance(value, expected):
                raise ConfigError(f"graph '{kind}': graph.{name} must be {type(default).__name__}, got {value!r}")

    def __call__(self, store: GraphStore, params: dict) -> SparseGraph:
        d, params = store.data, dict(params)
        if "base" in self.inputs:
            return self.fn(store.get(_base_spec(params.pop("of"))), **params)
        if "feature" in self.inputs:
            modality = params.pop("modality")
            return self.fn(_feature(d, modality), **params, what=f"feature '{modality}'")
        if "features" in self.inputs:
            if not d.features:
                raise ConfigError("graph 'consistent_knn': the dataset has no item features")
            return self.fn(d.features, **params)
        if "tags" in self.inputs:
            tag_item, tag = _tags(d)
            return self.fn(tag_item, tag, d.n_items, d.n_tags, **params)
        if d.user.numel() == 0:
            raise DataError("the training split is empty: no graph can be built")
        return self.fn(d.user, d.item, d.n_users, d.n_items, **params)


BUILDERS: dict[str, Builder] = {
    "bipartite": Builder(bipartite_graph, ("train",)),
    "cointeraction": Builder(cointeraction_graph, ("train",)),
    "consistent_knn": Builder(consistent_knn_graph, ("features",), required=("modality",)),
    "item_constraint": Builder(item_constraint_graph, ("train",)),
    "knn": Builder(knn_graph, ("feature",), required=("modality",)),
    "surfing": Builder(surfing_graph, ("base",), required=("of",)),
    "tag_cooccurrence": Builder(tag_cooccurrence_graph, ("tags",)),
    "user_cooccurrence": Builder(user_cooccurrence_graph, ("train",)),
}


def _tags(data: TrainingGraphInput) -> tuple[torch.Tensor, torch.Tensor]:
    if data.tag is None or data.tag_item is None:
        raise ConfigError("graph 'tag_cooccurrence': the dataset has no item tags")
    return data.tag_item, data.tag


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
        self.data = data
        self.cache_dir = Path(cache_dir) if cache_dir is not None else None
        self.build_seconds: dict[str, float] = {}
        self.cache_hits: dict[str, bool] = {}
        self._memory: dict[str, SparseGraph] = {}
        self._input_hashes: dict[str, str] = {}

    # ------------------------------------------------------------------ keys
    def _input_hash(self, name: str, spec: GraphSpec) -> str:
        """The hash of one declared input of ``spec``."""
        if name == "base":
            return self.cache_key(_base_spec(spec.params["of"]))
        memo = f"feat:{spec.params['modality']}" if name == "feature" else name
        if memo not in self._input_hashes:
            d = self.data
            if name == "feature":
                value = _hash_tensors(_feature(d, spec.params["modality"]))
            elif name == "features":
                value = _hash_tensors(*(d.features[m] for m in sorted(d.features)))
                value += "|" + ",".join(sorted(d.features))
            elif name == "tags":
                value = _hash_tensors(*_tags(d), torch.tensor([d.n_items, d.n_tags]))
            else:
                value = _hash_tensors(d.user, d.item, torch.tensor([d.n_users, d.n_items]))
            self._input_hashes[memo] = value
        return self._input_hashes[memo]

    def cache_key(self, spec: GraphSpec) -> str:
        builder = self._builder(spec)
        inputs = "|".join(f"{name}:{self._input_hash(name, spec)}" for name in builder.inputs)
        text = f"v{BUILDER_VERSION}|{spec.key()}|{inputs}"
        return hashlib.sha256(text.encode()).hexdigest()[:24]

    def _builder(self, spec: GraphSpec) -> Builder:
        if spec.kind not in BUILDERS:
            raise ConfigError(f"graph kind '{spec.kind}' is unknown (choose from {', '.join(BUILDERS)})")
        builder = BUILDERS[spec.kind]
        builder.check(spec.kind, spec.params)
        return builder

    # ------------------------------------------------------------------ building
    def get(self, spec: GraphSpec) -> SparseGraph:
        """The graph for ``spec`` (memory, then disk cache, then built), on CPU."""
        builder = self._builder(spec)
        key = self.cache_key(spec)
        if key in self._memory:
            return self._memory[key]
        path = self.cache_dir / f"{key}.npz" if self.cache_dir is not None else None
        graph = _load(path, key) if path is not None and path.is_file() else None
        self.cache_hits[spec.key()] = graph is not None
        if graph is None:
            start = time.perf_counter()
            graph = builder(self, spec.params)
            self.build_seconds[spec.key()] = time.perf_counter() - start
            if path is not None:
                self._save(graph, path, key)
        self._memory[key] = graph
        return graph

    def _save(self, graph: SparseGraph, path: Path, key: str) -> None:
        try:
            _save(graph, path, key)
        except GraphrecError as exc:  # a read-only data root: train on, uncached
            log.warning(f"graph cache off: {exc}")
            self.cache_dir = None

    def build(self, specs: dict[str, GraphSpec], device: torch.device | str = "cpu") -> dict[str, SparseGraph]:
        return {name: self.get(spec).to(device) for name, spec in specs.items()}

    @property
    def total_seconds(self) -> float:
        return float(sum(self.build_seconds.values()))


def _arrays(graph: SparseGraph) -> dict[str, np.ndarray]:
    return {"crow": graph.crow.cpu().numpy(), "col": graph.col.cpu().numpy(),
            "values": graph.values.detach().cpu().numpy(), "shape": np.array(graph.shape, dtype=np.int64),
            "symmetric": np.array(graph.symmetric)}


def _checksum(arrays: dict[str, np.ndarray], key: str) -> str:
    content = _hash_tensors(*(torch.from_numpy(np.ascontiguousarray(arrays[n])) for n in _GRAPH_ARRAYS))
    return hashlib.sha256(f"{key}|{content}".encode()).hexdigest()


_GRAPH_ARRAYS = ("crow", "col", "values", "shape", "symmetric")


def _save(graph: SparseGraph, path: Path, key: str) -> None:
    arrays = _arrays(graph)

    def write(tmp: str) -> None:
        with open(tmp, "wb") as f:
            np.savez(f, **arrays, key=np.array(key), checksum=np.array(_checksum(arrays, key)))

    atomic_write(path, write)


def _structure_problem(z: dict[str, np.ndarray]) -> str | None:
    """Why the arrays are not a well-formed CSR graph (None when they are)."""
    crow, col, values, shape = z["crow"], z["col"], z["values"], z["shape"]
    if crow.dtype != np.int64 or col.dtype != np.int64 or shape.dtype != np.int64:
        return f"index dtypes {crow.dtype}/{col.dtype}/{shape.dtype}, expected int64"
    if values.dtype.kind != "f" or z["symmetric"].dtype != np.bool_:
        return f"value dtype {values.dtype}, expected floating point"
    if crow.ndim != 1 or col.ndim != 1 or values.ndim != 1 or shape.shape != (2,) or z["symmetric"].ndim:
        return "array shapes"
    n_rows, n_cols = (int(s) for s in shape)
    if n_rows < 0 or n_cols < 0 or crow.size != n_rows + 1 or col.size != values.size:
        return f"shape {n_rows}x{n_cols} with {crow.size} row pointers, {col.size} columns, {values.size} values"
    if crow[0] != 0 or crow[-1] != col.size or (np.diff(crow) < 0).any():
        return "row pointers are not a non-decreasing 0..nnz sequence"
    if col.size and (col.min() < 0 or col.max() >= n_cols):
        return f"column ids outside 0..{n_cols - 1}"
    if not np.isfinite(values).all():
        return "non-finite edge values"
    return None


def _load(path: Path, key: str) -> SparseGraph | None:
    """A verified cached graph, or None (with a warning) when the file fails any check: it is then rebuilt."""
    try:
        with np.load(path, allow_pickle=False) as npz:
            z = {name: npz[name] for name in (*_GRAPH_ARRAYS, "key", "checksum")}
        if str(z["key"]) != key:
            problem = f"written for key {str(z['key'])[:24]}"
        elif str(z["checksum"]) != _checksum(z, key):
            problem = "checksum mismatch"
        else:
            problem = _structure_problem(z)
    except Exception as exc:  # not an archive, a missing member, a pickled payload ...
        problem = f"unreadable ({type(exc).__name__})"
    if problem is not None:
        log.warning(f"graph cache {path}: {problem}; rebuilding it")
        return None
    return SparseGraph(*(torch.from_numpy(z[n]) for n in ("crow", "col", "values")),
                       tuple(int(s) for s in z["shape"]), bool(z["symmetric"]))


def degree_stats(graph: SparseGraph) -> dict[str, float]:
    """Node/edge counts and out-degree statistics (unweighted), for ``graphrec graphs info``."""
    deg = (graph.crow[1:] - graph.crow[:-1]).double()
    return {"nodes": graph.shape[0], "edges": graph.nnz, "symmetric": graph.symmetric,
            "degree_min": int(deg.min()) if deg.numel() else 0, "degree_median": float(deg.median()) if deg.numel() else 0,
            "degree_mean": float(deg.mean()) if deg.numel() else 0, "degree_max": int(deg.max()) if deg.numel() else 0,
            "isolated_nodes": int((deg == 0).sum()),
            "weight_min": float(graph.values.min()) if graph.nnz else 0.0,
            "weight_max": float(graph.values.max()) if graph.nnz else 0.0}
