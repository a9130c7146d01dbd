"""How MF and LightGCN scale with the number of interactions, in one process and with 2 DDP ranks.

Synthetic worlds of N interactions (N/10 users, N/50 items, Zipf(0.8) item popularity, users uniform; 1M, 3M,
10M → up to 1M users and 200k items), random 8:1:1 split, d = 64, batch 8,192 pairs (global: each of 2 ranks
takes half). Per (N, model, ranks), in a fresh process (under torchrun for 2 ranks):

- graph build: LightGCN's normalised bipartite graph from the training split (rank 0; the other rank loads it
  from the graph cache);
- s/epoch: the epoch's sampling (permutation + negatives, measured) plus steps-per-epoch × the median of the
  measured steps (``--steps`` batches; a whole 10M epoch of LightGCN is about an hour here, so it is extrapolated);
- evaluation: the model's once-per-evaluation part (``embeddings()``: LightGCN's propagation) plus the full
  ranking of ``--eval-blocks`` blocks of validation users per rank, extrapolated to all of them;
- peak RSS of the process (per rank under DDP).

One process uses 2 threads, each DDP rank 1: both use the machine's two cores.

    python benchmarks/scale.py run --root /tmp/scale [--sizes 1e6,3e6,1e7] [--models mf,lightgcn] [--ranks 1,2]
    python benchmarks/scale.py one --root /tmp/scale --interactions 1e6 --model mf   # one measurement, JSON
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

BATCH = 8192


def world_name(n: int) -> str:
    return f"scale-{n // 1_000_000}m" if n % 1_000_000 == 0 else f"scale-{n}"


def make_world(root: Path, n: int, seed: int = 0) -> str:
    """The synthetic world of about ``n`` distinct interactions, prepared once into ``root``."""
    from graphrec.data.dataset import Dataset
    from graphrec.data.storage import save_dataset

    name = world_name(n)
    if (root / name / "meta.json").is_file():
        return name
    rng = np.random.default_rng(seed)
    n_users, n_items = n // 10, n // 50
    popularity = 1.0 / np.arange(1, n_items + 1) ** 0.8
    draw = int(n * 1.05)
    user = rng.integers(0, n_users, draw)
    ranked = np.minimum(np.searchsorted(np.cumsum(popularity / popularity.sum()), rng.random(draw)), n_items - 1)
    item = rng.permutation(n_items)[ranked]
    key = np.unique(user.astype(np.int64) * n_items + item)
    key = np.sort(rng.choice(key, n, replace=False)) if key.size > n else key
    ds = Dataset(name=name, n_users=n_users, n_items=n_items, user=key // n_items, item=key % n_items,
                 source={"format": "synthetic-scale", "seed": seed})
    save_dataset(ds, root)
    return name


def peak_rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def measure(root: Path, n: int, model: str, steps: int, eval_blocks: int) -> dict:
    """One measurement in this process (one of the ranks under torchrun)."""
    import torch
    from hydra import compose, initialize_config_dir

    from graphrec import distributed as ddp
    from graphrec.configs import conf_dir
    from graphrec.training.loggers import LoggerGroup
    from graphrec.training.run import build_experiment_once
    from graphrec.training.trainer import Trainer, TrainerConfig

    rank = ddp.init("auto")
    torch.set_num_threads(2 if rank.world_size == 1 else 1)
    with initialize_config_dir(config_dir=conf_dir(), version_base="1.3"):
        cfg = compose("config", overrides=["dataset=prepared", f"dataset.name={world_name(n)}", f"model={model}",
                                           "eval.split=random", f"data_root={root}", "device=cpu",
                                           "model.embedding_dim=64", "graph_cache=true"])
    cache = root / ".graphs"
    if rank.is_main and cache.exists():  # time the build, not a cache hit
        import shutil
        shutil.rmtree(cache)
    ddp.barrier()
    exp = build_experiment_once(cfg, rank)
    batches = exp.task.batches(exp.model, BATCH, 1)
    generator = torch.Generator().manual_seed(0)
    start = time.perf_counter()
    next(iter(batches.epoch(generator)))
    sampling_s = time.perf_counter() - start
    step_s = []
    with tempfile.TemporaryDirectory() as tmp:
        trainer = Trainer(exp.model, batches, TrainerConfig(batch_size=BATCH, progress=False, max_batches=1),
                          None, "recall@20", tmp, LoggerGroup([]))
        trainer.batches = _Repeat(batches, generator)
        for _ in range(steps + 1):  # the first step warms up
            step_s.append(trainer._train_epoch(1)["train_s"])
    step = statistics.median(step_s[1:])
    users = torch.nonzero(exp.task.csr["valid"].counts() > 0).flatten()
    from graphrec.evaluation.full_ranking import FullRankingEvaluator

    evaluator = FullRankingEvaluator(list(cfg.eval.metrics), int(cfg.eval.block_size))
    block = max(1, min(evaluator.block_size, evaluator.max_block_elements // exp.dataset.n_items))
    keep = torch.zeros(exp.dataset.n_users, dtype=torch.bool)
    keep[users[:block * eval_blocks * rank.world_size]] = True
    exp.model.eval()
    start = time.perf_counter()
    with torch.no_grad():
        exp.model.embeddings()  # the once-per-evaluation part (LightGCN's propagation): not extrapolated
    fixed_s = time.perf_counter() - start
    start = time.perf_counter()
    evaluator.evaluate(exp.model, exp.task.csr["valid"], [exp.task.csr["train"]], keep=keep)
    blocks_s = max(time.perf_counter() - start - fixed_s, 0.0)
    out = {"interactions": int(exp.dataset.n_interactions), "users": exp.dataset.n_users,
           "items": exp.dataset.n_items, "model": model, "ranks": rank.world_size,
           "graph_build_s": round(exp.prepare_s, 2), "sampling_s": round(sampling_s, 3),
           "step_s": round(step, 4), "steps_per_epoch": len(batches),
           "epoch_s": round(sampling_s + step * len(batches), 1),
           "eval_s": round(fixed_s + blocks_s * users.numel() / max(int(keep.sum()), 1), 1),
           "eval_fixed_s": round(fixed_s, 2),
           "peak_rss_gb": round(peak_rss_gb(), 2)}
    peaks = ddp.gather_blocks({rank.rank: out["peak_rss_gb"]})
    out["peak_rss_gb_per_rank"] = [peaks[r] for r in sorted(peaks)]
    out["rank"] = rank.rank
    ddp.shutdown()
    return out


class _Repeat:
    """One batch per call of ``epoch`` from a single running epoch (steps of one epoch, timed one by one)."""

    def __init__(self, batches, generator):
        self.inner, self.generator, self.it = batches, generator, None
        self.group = getattr(batches, "group", 1)

    def __len__(self) -> int:
        return 1

    def epoch(self, generator):
        if self.it is None:
            self.it = iter(self.inner.epoch(self.generator))
        yield next(self.it)


def run(args) -> None:
    sizes = [int(float(s)) for s in args.sizes.split(",")]
    rows = []
    print(f"command: python {' '.join(sys.argv)}", flush=True)
    for n in sizes:
        make_world(args.root, n)
        for model in args.models.split(","):
            for ranks in (int(r) for r in args.ranks.split(",")):
                one = [__file__, "one", "--root", str(args.root), "--interactions", str(n), "--model", model,
                       "--steps", str(args.steps), "--eval-blocks", str(args.eval_blocks)]
                cmd = [sys.executable, *one] if ranks == 1 else \
                    [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={ranks}", *one]
                done = subprocess.run(cmd, capture_output=True, text=True,
                                      env={**os.environ, "OMP_NUM_THREADS": "2" if ranks == 1 else "1"})
                if done.returncode != 0:
                    print(f"FAILED {n} {model} {ranks}: {done.stderr.strip().splitlines()[-1:]}", flush=True)
                    continue
                row = json.loads(done.stdout.strip().splitlines()[-1])
                rows.append(row)
                print(json.dumps(row), flush=True)
    print("\n| interactions | users | items | model | ranks | graph build s | s/step | sampling s | s/epoch | "
          "eval s (all valid users) | peak RSS GB (per rank) |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['interactions']:,} | {r['users']:,} | {r['items']:,} | {r['model']} | {r['ranks']} | "
              f"{r['graph_build_s']} | {r['step_s']} | {r['sampling_s']} | {r['epoch_s']:,} | {r['eval_s']:,} | "
              f"{' / '.join(str(x) for x in r['peak_rss_gb_per_rank'])} |")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("what", choices=["run", "one"])
    p.add_argument("--root", type=Path, required=True, help="data root for the synthetic worlds")
    p.add_argument("--sizes", default="1e6,3e6,1e7")
    p.add_argument("--models", default="mf,lightgcn")
    p.add_argument("--ranks", default="1,2")
    p.add_argument("--interactions", type=float, default=1e6)
    p.add_argument("--model", default="mf")
    p.add_argument("--steps", type=int, default=5)
    p.add_argument("--eval-blocks", type=int, default=4)
    args = p.parse_args()
    if args.what == "run":
        run(args)
    else:
        out = measure(args.root, int(args.interactions), args.model, args.steps, args.eval_blocks)
        if out.pop("rank") == 0:
            print(json.dumps(out))


if __name__ == "__main__":
    main()
