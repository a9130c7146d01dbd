"""Inference cost of topic-id features against raw content features (MTL Fig. 6), on a ranker of Table II.

    python benchmarks/topic_features_cost.py [--dataset ml-latest-small-topics] [--model emlp] [--repeats 7]

Three configurations of one ranker (untrained: cost does not depend on the weights): the baseline (id fields),
"+content" (``use_features=true``: the item content features — every modality of the dataset — projected into
each item vector, the paper's "Baseline + CNN") and "+topic" (``item_fields=[topic]``: the topic ids of
``graphrec topics assign``). For each: parameters, the feature values one impression gathers (content floats
vs topic ids, for the candidate and its L history items), and the latency of scoring one impression (batch 1)
and a batch of 256 — the median of ``--repeats`` timings of 200 / 20 calls, one CPU thread, no grad.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from hydra import compose, initialize_config_dir

from graphrec.configs import conf_dir
from graphrec.experiment import instantiate_model, load_configured_dataset
from graphrec.tasks.ctr_data import build_records


def median_seconds(fn, calls: int, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(calls):
            fn()
        times.append((time.perf_counter() - start) / calls)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="ml-latest-small-topics")
    parser.add_argument("--model", default="emlp")
    parser.add_argument("--history", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    torch.set_num_threads(1)
    variants = {"baseline": [], "+content": ["model.use_features=true"], "+topic": ["model.item_fields=[topic]"]}
    with initialize_config_dir(config_dir=conf_dir(), version_base="1.3"):
        base = compose("config", overrides=[f"model={args.model}", "dataset=prepared", f"dataset.name={args.dataset}",
                                            f"eval.history_length={args.history}"])
        cfgs = {k: compose("config", overrides=[f"model={args.model}", "dataset=prepared",
                                                 f"dataset.name={args.dataset}", f"eval.history_length={args.history}",
                                                 *v]) for k, v in variants.items()}
    ds = load_configured_dataset(base.dataset, base.get("data_root"))
    records, _ = build_records(ds, base.eval)
    rows = records.rows("test")
    one, batch = records.batch("test", rows[:1]), records.batch("test", rows[:256])
    features = {m: torch.from_numpy(f) for m, f in ds.features.items()}
    content_dim = sum(f.shape[1] for f in ds.features.values())
    topics = ds.item_field("topic")
    topics_per_item = topics[0].size / ds.n_items
    print(f"{args.model} on {args.dataset}, L = {args.history}; content features {sorted(ds.features)} "
          f"({content_dim} floats per item); {topics_per_item:.2f} topics per item")
    print(f"{'':<10}{'parameters':>12}{'values/impr.':>14}{'1 impression (µs)':>19}{'256 (ms)':>10}")
    base_time = None
    for name, cfg in cfgs.items():
        torch.manual_seed(0)
        model = instantiate_model(cfg.model, ds.n_users, ds.n_items, features, ds).eval()
        n_values = {"baseline": 0, "+content": (args.history + 1) * content_dim,
                    "+topic": round((args.history + 1) * topics_per_item)}[name]
        with torch.no_grad():
            t1 = median_seconds(lambda: model.predict(one), 200, args.repeats)
            tb = median_seconds(lambda: model.predict(batch), 20, args.repeats)
        base_time = base_time or t1
        print(f"{name:<10}{model.num_parameters():>12,}{n_values:>14,}{t1 * 1e6:>19.1f}{tb * 1e3:>10.2f}"
              f"   (+{(t1 - base_time) * 1e6:.1f} µs over the baseline)")


if __name__ == "__main__":
    main()
