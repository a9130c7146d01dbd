"""``graphrec graphs info dataset=<name> graph=<kind> [graph.<param>=<value> ...] [eval.split=...]``.

Builds one graph from the training split of a dataset (as ``graphrec train`` would) and prints node and edge
counts, degree statistics and the build time, so thresholds can be chosen before training. For
``graph=surfing``, ``graph.of=<kind>`` names the base graph and other ``graph.*`` parameters that are not
surfing's own (K, alpha, top_k) go to the base graph.
"""

from __future__ import annotations

import time

from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from graphrec.configs import conf_dir
from graphrec.errors import ConfigError
from graphrec.experiment import load_configured_dataset
from graphrec.tasks.ranking import graph_store, split_dataset
from graphrec.graphs.store import BUILDERS, GraphSpec, degree_stats

SURFING_PARAMS = ("K", "alpha", "top_k")


def graph_spec_from_args(kind: str, params: dict) -> GraphSpec:
    if kind not in BUILDERS:
        raise ConfigError(f"graph: unknown kind '{kind}' (choose from {', '.join(BUILDERS)})")
    if kind == "surfing":
        base_kind = params.pop("of", "bipartite")
        own = {k: params.pop(k) for k in SURFING_PARAMS if k in params}
        return GraphSpec("surfing", {"of": {"kind": base_kind, **params}, **own})
    return GraphSpec(kind, params)


def _is_graph_arg(arg: str) -> bool:
    """``graph=<kind>`` and ``graph.<param>=...``; ``graph_cache=...`` is a config key, not a graph parameter."""
    return arg.startswith(("graph=", "graph."))


def main(argv: list[str]) -> None:
    if not argv or argv[0] != "info":
        raise ConfigError("usage: graphrec graphs info dataset=<name> graph=<kind> [graph.<param>=<value> ...]")
    graph_args = [a for a in argv[1:] if _is_graph_arg(a)]
    hydra_args = [a for a in argv[1:] if not _is_graph_arg(a)]
    kind = next((a.partition("=")[2] for a in graph_args if a.startswith("graph=")), None)
    params = _dotted_params(graph_args)
    if kind is None:
        raise ConfigError(f"graph: which graph to build ({', '.join(BUILDERS)})")
    with initialize_config_dir(config_dir=conf_dir(), version_base="1.3"):
        try:
            cfg = compose("config", overrides=hydra_args)
        except Exception as exc:
            raise ConfigError(str(exc).splitlines()[0]) from None
    ds = load_configured_dataset(cfg.dataset, cfg.get("data_root"))
    split = split_dataset(ds, cfg.eval)
    train = split.train
    store = graph_store(cfg, ds, train)
    spec = graph_spec_from_args(kind, params)
    start = time.perf_counter()
    g = store.get(spec)
    seconds = time.perf_counter() - start
    stats = degree_stats(g)
    cached = store.cache_hits.get(spec.key(), False)
    print(f"dataset {ds.name} (split {split.protocol}, {train.size:,} training interactions)")
    print(f"graph   {spec.key()}")
    print(f"nodes {stats['nodes']:,}  edges {stats['edges']:,}  symmetric {stats['symmetric']}  "
          f"isolated {stats['isolated_nodes']:,}")
    print(f"degree  min {stats['degree_min']}  median {stats['degree_median']:.1f}  mean {stats['degree_mean']:.2f}  "
          f"max {stats['degree_max']}")
    print(f"weight  min {stats['weight_min']:.4g}  max {stats['weight_max']:.4g}")
    print(f"{'loaded from cache' if cached else 'built'} in {seconds:.2f}s")


def _dotted_params(args: list[str]) -> dict:
    out = {}
    for a in args:
        key, _, value = a.partition("=")
        if key.startswith("graph."):
            out[key[len("graph."):]] = OmegaConf.to_container(OmegaConf.from_dotlist([f"v={value}"]))["v"]
    return out
