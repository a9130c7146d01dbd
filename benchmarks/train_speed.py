"""Training and evaluation speed (default: LightGCN on TikTok, batch 2048, 3 layers, d=64; --model huign).

Prints the median seconds per training epoch (negative sampling included), the median seconds per
full-ranking pass over the validation users, and the peak RSS of the process, with the command line.

    python benchmarks/train_speed.py [--model lightgcn] [--epochs 7] [--evals 7] [--device cpu] [--precision fp32]
    # another prepared dataset and protocol, with the model's own batch size and negatives (e.g. eval=iris):
    python benchmarks/train_speed.py --model nais --dataset ml100k --eval iris --epochs 3 --evals 5

Needs the prepared dataset 'tiktok' in $GRAPHREC_DATA, or ../shared/datasets/tiktok-mmssl (prepared into a
temporary data root on the fly).
"""

from __future__ import annotations

import argparse
import resource
import statistics
import sys
import tempfile
import time
import warnings
from collections.abc import Sequence
from pathlib import Path

import torch
from hydra import compose, initialize_config_dir

from graphrec.configs import conf_dir
from graphrec.data.storage import data_root
from graphrec.data.sampler import TrainingBatches
from graphrec.experiment import Experiment, build_experiment
from graphrec.training.trainer import Trainer, TrainerConfig
from graphrec.training.loggers import LoggerGroup

warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta state")
SHARED = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "tiktok-mmssl" / "diffmm_format"


def tiktok_root() -> str:
    if (data_root() / "tiktok" / "meta.json").is_file():
        return str(data_root())
    if not SHARED.is_dir():
        sys.exit(f"no prepared 'tiktok' in {data_root()} and no {SHARED}")
    from graphrec.cli.data import prepare

    root = tempfile.mkdtemp(prefix="graphrec-bench-")
    prepare("diffmm", SHARED, "tiktok", root)
    return root


def tiktok_experiment(model: str, device: str, overrides: Sequence[str] = ()) -> tuple[Experiment, TrainingBatches]:
    """``model`` with its config defaults on TikTok, and its training batches (2048 pairs, one negative, or the
    kind the model asks for: no negatives for ``sampling = "positive"``)."""
    with initialize_config_dir(config_dir=conf_dir(), version_base="1.3"):
        cfg = compose("config", overrides=["dataset=tiktok", f"model={model}", f"device={device}",
                                           f"data_root={tiktok_root()}", "trainer.batch_size=2048",
                                           "trainer.progress=false", *overrides])
    exp = build_experiment(cfg)
    return exp, exp.task.batches(exp.model, 2048, 1)


def prepared_experiment(model: str, device: str, dataset: str, protocol: str) -> tuple[Experiment, TrainingBatches]:
    """``model`` with its config defaults (its batch size and negatives) on a prepared dataset."""
    with initialize_config_dir(config_dir=conf_dir(), version_base="1.3"):
        cfg = compose("config", overrides=[f"dataset={dataset}", f"model={model}", f"eval={protocol}",
                                           f"device={device}", "trainer.progress=false"])
    exp = build_experiment(cfg)
    return exp, exp.task.batches(exp.model, int(cfg.trainer.batch_size), int(cfg.trainer.n_neg))


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--epochs", type=int, default=7)
    p.add_argument("--evals", type=int, default=7)
    p.add_argument("--device", default="cpu")
    p.add_argument("--model", default="lightgcn")
    p.add_argument("--layers", type=int, default=3)
    p.add_argument("--dataset", default="tiktok", help="a conf/dataset name; other than tiktok: prepared in $GRAPHREC_DATA")
    p.add_argument("--eval", default="default", help="a conf/eval name (with --dataset other than tiktok)")
    p.add_argument("--precision", default="fp32", help="trainer.precision: fp32 | bf16 (autocast)")
    args = p.parse_args()
    if args.dataset == "tiktok":
        extra = [f"model.n_layers={args.layers}", "model.embedding_dim=64"] if args.model == "lightgcn" else []
        exp, batches = tiktok_experiment(args.model, args.device, extra)
    else:
        exp, batches = prepared_experiment(args.model, args.device, args.dataset, args.eval)
    u, _ = exp.task.train_pairs
    with tempfile.TemporaryDirectory() as tmp:
        config = TrainerConfig(epochs=1, progress=False, precision=args.precision)
        trainer = Trainer(exp.model, batches, config, None, "recall@20", tmp, LoggerGroup([]))
        sync = torch.cuda.synchronize if exp.device.type == "cuda" else (lambda: None)
        trainer._train_epoch(0)  # warm-up
        epoch_s = []
        for e in range(args.epochs):
            sync()
            start = time.perf_counter()
            trainer._train_epoch(e + 1)
            sync()
            epoch_s.append(time.perf_counter() - start)
    exp.evaluate("valid")  # warm-up
    eval_s = []
    for _ in range(args.evals):
        sync()
        start = time.perf_counter()
        metrics = exp.evaluate("valid")
        sync()
        eval_s.append(time.perf_counter() - start)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"command: python {' '.join(sys.argv)}")
    print(f"device: {exp.device}, threads: {torch.get_num_threads()}, model: {args.model}, "
          f"precision: {args.precision}, train interactions: {u.numel():,}, batches/epoch: {len(batches)}, "
          f"valid users: {metrics['n_users']:,}")
    print(f"train epoch: median {statistics.median(epoch_s):.3f} s  (runs: {', '.join(f'{s:.3f}' for s in epoch_s)})")
    print(f"valid pass:  median {statistics.median(eval_s):.3f} s  (runs: {', '.join(f'{s:.3f}' for s in eval_s)})")
    print(f"peak RSS:    {peak_mb:.0f} MB")
    if exp.device.type == "cuda":
        print(f"peak CUDA memory: {torch.cuda.max_memory_allocated() / 2**20:.0f} MB")


if __name__ == "__main__":
    main()
