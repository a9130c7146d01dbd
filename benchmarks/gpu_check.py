"""What a lent accelerator does with graphrec, in under ten minutes: seconds per training epoch, one validation pass
and peak device memory of LightGCN, MMGCN, LATTICE (full ranking) and MTIN (click-through), each with its config
defaults; then the sparse-dense product (``SparseGraph @ X``, the operator of every graph model) on a graph of
TikTok's size and on a large one, its achieved bandwidth against a device-to-device copy and the card's peak.

    python benchmarks/gpu_check.py                    # TikTok if prepared (or ../shared/datasets), else its size
    python benchmarks/gpu_check.py --device cpu --epochs 1 --scale 0.1 --spmm-rows 100000 --spmm-nnz 1000000

The ranking models run on TikTok when it is prepared in ``$GRAPHREC_DATA`` or ``../shared/datasets`` is beside
the checkout; elsewhere (a lent machine gets the repository only) on the synthetic world at TikTok's size (9,308
users, 6,710 items, ~59 k training pairs, visual / acoustic / textual features). MTIN always runs on the synthetic
world's impressions (the toolkit's ``model=mtin`` tests' world, at the same size).

SpMM traffic model (no cache reuse): every stored entry reads its column index, its value and one row of X
(``d`` floats), every output row is written once: bytes = nnz·(idx + 4 + 4d) + rows·4d (+ the row pointers).
"""

from __future__ import annotations

import argparse
import resource
import statistics
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import torch
from hydra import compose, initialize_config_dir

from graphrec.configs import conf_dir
from graphrec.data.storage import data_root
from graphrec.experiment import build_experiment
from graphrec.graphs.sparse import SparseGraph
from graphrec.training.loggers import LoggerGroup
from graphrec.training.trainer import Trainer, TrainerConfig

warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta state")
SHARED_TIKTOK = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "tiktok-mmssl" / "diffmm_format"


def tiktok_sized(scale: float = 1.0) -> list[str]:
    """The synthetic world with TikTok's users and items (times ``scale``) and ~59 k training pairs at scale 1."""
    return ["dataset=synthetic", f"dataset.synthetic.n_users={max(50, round(9308 * scale))}",
            f"dataset.synthetic.n_items={max(50, round(6710 * scale))}", "dataset.synthetic.interactions_per_user=7.4"]


# HBM peak bandwidth (GB/s) of the cards a lent machine may have, from their data sheets; others: from properties
PEAK_GBPS = {"H100 80GB HBM3": 3350.0, "H100": 3350.0, "H200": 4800.0, "A100-SXM4-80GB": 2039.0}


def ranking_world(scale: float) -> tuple[list[str], str]:
    """Overrides for TikTok (prepared, or prepared now from ../shared) or, failing both, a world of its size."""
    if scale != 1.0:
        return tiktok_sized(scale), f"synthetic world at {scale} × TikTok's size"
    if (data_root() / "tiktok" / "meta.json").is_file():
        return ["dataset=tiktok"], "TikTok (prepared)"
    if SHARED_TIKTOK.is_dir():
        from graphrec.cli.data import prepare

        root = tempfile.mkdtemp(prefix="graphrec-gpu-check-")
        prepare("diffmm", SHARED_TIKTOK, "tiktok", root)
        return ["dataset=tiktok", f"data_root={root}"], "TikTok (../shared)"
    return tiktok_sized(), "synthetic world at TikTok's size"


def synchronise(device: torch.device) -> Callable[[], None]:
    return torch.cuda.synchronize if device.type == "cuda" else (lambda: None)


def timed(fn: Callable[[], object], sync: Callable[[], None], repeats: int) -> list[float]:
    """Seconds of each of ``repeats`` calls of ``fn`` (after one warm-up call)."""
    fn()
    out = []
    for _ in range(repeats):
        sync()
        start = time.perf_counter()
        fn()
        sync()
        out.append(time.perf_counter() - start)
    return out


def model_speed(model: str, overrides: list[str], device: str, epochs: int, max_batches: int | None) -> str:
    """One line: the model's median s/epoch (timed on its first ``max_batches`` batches and scaled to the whole
    epoch when that is fewer), its validation pass and the peak device memory of both."""
    with initialize_config_dir(config_dir=conf_dir(), version_base="1.3"):
        cfg = compose("config", overrides=[f"model={model}", f"device={device}", "trainer.progress=false",
                                           *overrides])
    exp = build_experiment(cfg)
    batches = exp.task.batches(exp.model, int(cfg.trainer.batch_size), int(cfg.trainer.n_neg))
    sync = synchronise(exp.device)
    if exp.device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    with tempfile.TemporaryDirectory() as tmp:
        trainer = Trainer(exp.model, batches, TrainerConfig(epochs=1, progress=False, max_batches=max_batches), None,
                          next(iter(exp.task.metric_directions)), tmp, LoggerGroup([]))
        epoch = iter(range(10**6))
        timed_batches = min(len(batches), max_batches or len(batches))
        epoch_s = [s * len(batches) / timed_batches
                   for s in timed(lambda: trainer._train_epoch(next(epoch)), sync, epochs)]
    eval_s = timed(lambda: exp.evaluate("valid"), sync, 2)
    peak = (f"{torch.cuda.max_memory_allocated() / 2**20:,.0f} MB device"
            if exp.device.type == "cuda" else f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:,.0f} MB RSS")
    part = "" if timed_batches == len(batches) else f" (timed on {timed_batches} of them)"
    return (f"{model:<9} {len(batches):>4} batches of {int(cfg.trainer.batch_size)}{part}: epoch median "
            f"{statistics.median(epoch_s):.3f} s (runs {', '.join(f'{s:.3f}' for s in epoch_s)}), valid pass "
            f"{statistics.median(eval_s):.3f} s, peak {peak}, {exp.model.num_parameters():,} parameters")


def random_graph(n_rows: int, nnz: int, device: torch.device, seed: int = 0) -> SparseGraph:
    g = torch.Generator().manual_seed(seed)
    row = torch.randint(0, n_rows, (nnz,), generator=g)
    col = torch.randint(0, n_rows, (nnz,), generator=g)
    return SparseGraph.from_coo(row, col, torch.rand(nnz, generator=g), (n_rows, n_rows)).to(device)


def spmm_line(name: str, graph: SparseGraph, d: int, device: torch.device, copy_gbps: float, peak: float | None) -> str:
    x = torch.randn(graph.shape[1], d, device=device)
    seconds = statistics.median(timed(lambda: graph @ x, synchronise(device), 10))
    index_bytes = graph.col.element_size()
    moved = graph.nnz * (index_bytes + 4 + 4 * d) + graph.shape[0] * (4 * d + graph.crow.element_size())
    gbps = moved / seconds / 1e9
    against = f"{gbps / copy_gbps:.0%} of copy" + (f", {gbps / peak:.0%} of the {peak:,.0f} GB/s peak" if peak else "")
    return (f"SpMM {name}: {graph.shape[0]:,} rows, {graph.nnz:,} entries, d={d}: {seconds * 1e3:.3f} ms, "
            f"{gbps:,.0f} GB/s ({against})")


def copy_bandwidth(device: torch.device, mib: int) -> float:
    """GB/s of a device-to-device copy (read + write counted)."""
    x = torch.empty(mib * 2**20 // 4, device=device)
    y = torch.empty_like(x)
    seconds = statistics.median(timed(lambda: y.copy_(x), synchronise(device), 10))
    return 2 * x.numel() * 4 / seconds / 1e9


def peak_bandwidth(device: torch.device) -> float | None:
    if device.type != "cuda":
        return None
    name = torch.cuda.get_device_name(device)
    for key, gbps in PEAK_GBPS.items():
        if key in name:
            return gbps
    props = torch.cuda.get_device_properties(device)
    clock_khz, bus_bits = getattr(props, "memory_clock_rate", 0), getattr(props, "memory_bus_width", 0)
    return 2 * clock_khz * 1e3 * bus_bits / 8 / 1e9 if clock_khz and bus_bits else None


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", default="cuda")
    p.add_argument("--epochs", type=int, default=5, help="timed epochs per model (after one warm-up)")
    p.add_argument("--models", default="lightgcn,mmgcn,lattice,mtin")
    p.add_argument("--mtin-batches", type=int, default=100, help="MTIN's epoch is timed on this many batches")
    p.add_argument("--scale", type=float, default=1.0, help="synthetic worlds at this fraction of TikTok's size "
                   "(and TikTok itself only at 1.0): quick runs of the script on CPU")
    p.add_argument("--spmm-rows", type=int, default=2_000_000, help="rows of the large SpMM graph")
    p.add_argument("--spmm-nnz", type=int, default=40_000_000, help="entries of the large SpMM graph")
    args = p.parse_args()
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        sys.exit("no CUDA device here (use --device cpu to run the script on CPU)")
    started = time.perf_counter()
    print(f"command: python {' '.join(sys.argv)}", flush=True)
    card = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    print(f"torch {torch.__version__}, device {card}, CUDA {torch.version.cuda}, threads {torch.get_num_threads()}")
    ranking, world = ranking_world(args.scale)
    print(f"ranking models on the {world}; MTIN on the synthetic world's impressions at {args.scale} × TikTok's "
          "size", flush=True)
    for model in args.models.split(","):
        overrides = tiktok_sized(args.scale) if model == "mtin" else ranking
        cap = args.mtin_batches if model == "mtin" else None
        print(model_speed(model, overrides, args.device, args.epochs, cap), flush=True)

    copy_gbps = copy_bandwidth(device, 1024 if device.type == "cuda" else 256)
    peak = peak_bandwidth(device)
    print(f"device-to-device copy: {copy_gbps:,.0f} GB/s" + (f" (card peak {peak:,.0f} GB/s)" if peak else ""))
    with initialize_config_dir(config_dir=conf_dir(), version_base="1.3"):
        cfg = compose("config", overrides=["model=lightgcn", f"device={args.device}", *ranking])
    exp = build_experiment(cfg)
    print(spmm_line("LightGCN's normalised adjacency", exp.model.graphs["adj"], 64, device, copy_gbps, peak))
    big = random_graph(args.spmm_rows, args.spmm_nnz, device)
    for d in (64, 128):
        print(spmm_line("uniform random", big, d, device, copy_gbps, peak), flush=True)
    print(f"total {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
