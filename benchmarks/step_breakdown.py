"""Where a training step's time goes, on TikTok: forward, backward and optimiser medians, and the dense floor.

The dense floor is what the step's matrix products (``mm`` / ``addmm`` with the shapes a profiler records in a
few steps) take when each is timed alone, many times, on fresh inputs: the step's time with every other op
(elementwise, sparse, indexing, autograd bookkeeping) taken away. The step is the trainer's: ``model.loss``,
backward, fused Adam.

    python benchmarks/step_breakdown.py --model mmgcn [--steps 60] [--device cpu]
"""

from __future__ import annotations

import argparse
import collections
import statistics
import sys
import time
from collections.abc import Callable

import torch
from torch.profiler import profile

from train_speed import tiktok_experiment

DENSE_OPS = ("aten::mm", "aten::addmm", "aten::addmm_")


def median_seconds(fn: Callable[[], object], repeats: int = 15) -> float:
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def dense_product(op: str, shapes: list[list[int]]) -> Callable[[], torch.Tensor]:
    """A closure running ``op`` on fresh random inputs of the recorded shapes."""
    if op == "aten::mm":
        a, b = (torch.randn(*s) for s in shapes[:2])
        return lambda: a @ b
    bias, a, b = (torch.randn(*s) for s in shapes[:3])
    if op == "aten::addmm":
        return lambda: torch.addmm(bias, a, b)
    return lambda: bias.addmm_(a, b)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--model", default="mmgcn")
    p.add_argument("--steps", type=int, default=60)
    p.add_argument("--device", default="cpu")
    args = p.parse_args()
    exp, batches = tiktok_experiment(args.model, args.device)
    model = exp.model
    model.train()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4, fused=True)
    generator = torch.Generator().manual_seed(0)
    epoch = [b for _, b in zip(range(args.steps), _cycle(batches, generator))]
    parts = collections.defaultdict(list)

    def step(batch: dict[str, torch.Tensor], timed: bool = False) -> None:
        t0 = time.perf_counter()
        terms = model.loss(batch)
        loss = sum(terms.values()) if isinstance(terms, dict) else terms
        t1 = time.perf_counter()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        t2 = time.perf_counter()
        optimizer.step()
        t3 = time.perf_counter()
        if timed:
            for name, seconds in (("forward", t1 - t0), ("backward", t2 - t1), ("adam", t3 - t2), ("step", t3 - t0)):
                parts[name].append(seconds)

    for batch in epoch[:3]:
        step(batch)
    for batch in epoch:
        step(batch, timed=True)
    with profile(record_shapes=True) as prof:
        for batch in epoch[:3]:
            step(batch)
    calls = collections.Counter((e.name, tuple(tuple(s) for s in e.input_shapes if s))
                                for e in prof.events() if e.name in DENSE_OPS)
    floor = macs = 0.0
    for (op, shapes), count in calls.items():
        per_step = count / 3
        m, k = shapes[-2]
        n = shapes[-1][1]
        floor += per_step * median_seconds(dense_product(op, [list(s) for s in shapes]))
        macs += per_step * m * k * n
    print(f"command: python {' '.join(sys.argv)}")
    print(f"model: {args.model}, device: {args.device}, threads: {torch.get_num_threads()}, "
          f"batches/epoch: {len(batches)}, steps timed: {len(parts['step'])}")
    print("median per step: " + ", ".join(f"{k} {1e3 * statistics.median(v):.1f} ms" for k, v in parts.items()))
    rate = f", {2 * macs / floor / 1e9:.0f} GFLOP/s alone" if floor else ""
    print(f"dense floor: {1e3 * floor:.1f} ms per step ({sum(calls.values()) / 3:.0f} products, "
          f"{macs / 1e9:.2f} GMAC{rate}) = {floor * len(batches):.2f} s per epoch; everything else: "
          f"{1e3 * (statistics.median(parts['step']) - floor):.1f} ms per step")


def _cycle(batches, generator: torch.Generator):
    while True:
        yield from batches.epoch(generator)


if __name__ == "__main__":
    main()
