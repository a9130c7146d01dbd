"""Click-through training speed: impressions per second of full training steps (batch building with the
time-causal histories, forward, backward, Adam) for a ``ctr`` model, and for MTIN the share of a step spent
in the interest-group routing (Algorithm 1, both branches).

    python benchmarks/ctr_speed.py --model mtin --dataset kuairand-likehate [--batches 40] [--repeats 5]
        [--batch-size 128] [--history 20] [--set model.embedding_dim=64 ...]

Prints the median over ``--repeats`` timed runs of ``--batches`` steps each, the peak RSS and the command.
Needs the prepared impression dataset in $GRAPHREC_DATA (graphrec data prepare kuairand | movielens ...).
"""

from __future__ import annotations

import argparse
import resource
import statistics
import sys
import time

import torch
from hydra import compose, initialize_config_dir

import graphrec.models.ctr.mtin as mtin_module
from graphrec.configs import conf_dir
from graphrec.experiment import build_experiment


class RoutingClock:
    """Wraps ``interest_routing`` as MTIN calls it and adds up the seconds spent inside."""

    def __init__(self):
        self.seconds, self.inner = 0.0, mtin_module.interest_routing

    def __call__(self, *args, **kwargs):
        start = time.perf_counter()
        out = self.inner(*args, **kwargs)
        self.seconds += time.perf_counter() - start
        return out


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--model", default="mtin")
    p.add_argument("--dataset", default="kuairand-likehate")
    p.add_argument("--batches", type=int, default=40)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--batch-size", type=int, default=None)
    p.add_argument("--history", type=int, default=20)
    p.add_argument("--set", nargs="*", default=[], help="more Hydra overrides")
    args = p.parse_args(argv)
    overrides = [f"model={args.model}", f"dataset={args.dataset}", f"eval.history_length={args.history}",
                 "device=cpu", "trainer.progress=false", *args.set]
    if args.batch_size:
        overrides.append(f"trainer.batch_size={args.batch_size}")
    with initialize_config_dir(config_dir=conf_dir(), version_base="1.3"):
        cfg = compose("config", overrides=overrides)
    exp = build_experiment(cfg)
    model, records = exp.model, exp.task.records
    batch_size = int(cfg.trainer.batch_size)
    optimizer = torch.optim.Adam(model.parameters(), lr=float(cfg.trainer.lr))
    clock = RoutingClock()
    mtin_module.interest_routing = clock
    model.train()
    generator = torch.Generator().manual_seed(0)
    rates, shares = [], []
    for repeat in range(args.repeats + 1):  # the first run warms up
        batches = records.batches("train", batch_size, generator)
        clock.seconds, seen = 0.0, 0
        start = time.perf_counter()
        for _ in range(args.batches):
            batch = next(batches)
            loss = sum(model.loss(batch).values())
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            seen += batch["user"].numel()
        elapsed = time.perf_counter() - start
        if repeat:
            rates.append(seen / elapsed)
            shares.append(clock.seconds / elapsed)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"command: python benchmarks/ctr_speed.py {' '.join(sys.argv[1:] if argv is None else argv)}")
    print(f"{args.model} on {args.dataset}: batch {batch_size}, history {args.history}, "
          f"{torch.get_num_threads()} threads, {model.num_parameters():,} parameters")
    print(f"training impressions/s: median {statistics.median(rates):,.0f} over {args.repeats} runs of "
          f"{args.batches} batches (min {min(rates):,.0f}, max {max(rates):,.0f})")
    if any(shares):
        print(f"routing share of a step: median {100 * statistics.median(shares):.1f}%")
    print(f"peak RSS {peak_mb:,.0f} MB")


if __name__ == "__main__":
    main()
