"""Scale benchmark of the graph builders on synthetic inputs: seconds (median of --repeats runs) and peak RSS.

    python benchmarks/graphs.py                 # all cases, 3 runs each
    python benchmarks/graphs.py --case knn128 --repeats 1

Each case runs in a fresh child process so that its peak RSS is its own. Targets on a 2-core, 24 GB machine:
kNN (k=10) 100,000 × 128-d ≤ 60 s and 50,000 × 4,096-d ≤ 180 s, each ≤ 4 GB; co-interaction over 2,000,000
interactions ≤ 60 s; random surfing (K=3, top-32) over a 1,000,000-interaction bipartite graph ≤ 180 s, ≤ 6 GB.
The user–user co-occurrence graph of DualGNN / DRAGON (top-40 users by shared items, softmax weights) is timed on
the same 2,000,000-interaction world (no target: the issue asks for its time and memory), and DA-MRS's
consistent-content kNN graph (one modality's graph; pairs below the mean cosine of any modality dropped) on
non-negative features of TikTok's size and of 50,000 items.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
import warnings

import torch

CASES = {
    "knn128": ("kNN k=10, 100,000 items x 128-d", 60, 4096),
    "knn4096": ("kNN k=10, 50,000 items x 4,096-d", 180, 4096),
    "cointeraction": ("co-interaction m=5, ~2,000,000 interactions", 60, None),
    "surfing": ("random surfing K=3 top-32, ~1,000,000-interaction bipartite graph", 180, 6144),
    "user_cooccurrence": ("user co-occurrence top-40 softmax, ~2,000,000 interactions", None, None),
    "user_cooccurrence_tiktok": ("user co-occurrence top-40 softmax, TikTok's size (9,308 users)", None, None),
    "consistent_knn_tiktok": ("consistent-content kNN k=10, 6,710 items x 2 modalities x 128-d", None, None),
    "consistent_knn": ("consistent-content kNN k=10, 50,000 items x 2 modalities x 128-d", None, None),
}


def run_case(case: str, device: str) -> dict:
    warnings.filterwarnings("ignore")
    from graphrec.data.synthetic import generate_world
    from graphrec.graphs.bipartite import bipartite_graph
    from graphrec.graphs.cointeraction import cointeraction_graph, user_cooccurrence_graph
    from graphrec.graphs.knn import knn_graph
    from graphrec.graphs.surfing import surfing_graph

    gen = torch.Generator().manual_seed(0)
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    if case.startswith("consistent_knn"):
        from graphrec.graphs.consistent_knn import consistent_knn_graph
        n = 6_710 if case.endswith("tiktok") else 50_000
        features = {m: torch.rand(n, 128, generator=gen).to(device) for m in ("visual", "acoustic")}
        sync()
        start = time.perf_counter()
        g = consistent_knn_graph(features, "visual", k=10)
        sync()
        info = {"items": n, "modalities": 2, "dim": 128}
    elif case.startswith("knn"):
        n, d = (100_000, 128) if case == "knn128" else (50_000, 4096)
        x = torch.randn(n, d, generator=gen).to(device)
        sync()
        start = time.perf_counter()
        g = knn_graph(x, k=10)
        sync()
        info = {"items": n, "dim": d}
    else:
        if case == "user_cooccurrence_tiktok":  # TikTok's training split: 9,308 users, 6,710 items, 59,541 pairs
            world = generate_world(n_users=9_308, n_items=6_710, interactions_per_user=6.4, seed=0, dims={"visual": 4},
                                   impressions_per_click=0.0)
        elif case in ("cointeraction", "user_cooccurrence"):
            world = generate_world(n_users=100_000, n_items=50_000, interactions_per_user=22.0, seed=0, dims={"visual": 4},
                                   impressions_per_click=0.0)
        else:
            world = generate_world(n_users=60_000, n_items=30_000, interactions_per_user=19.0, seed=0, dims={"visual": 4},
                                   impressions_per_click=0.0)
        user, item = torch.from_numpy(world.user), torch.from_numpy(world.item)
        info = {"users": world.n_users, "items": world.n_items, "interactions": world.n_interactions}
        start = time.perf_counter()
        if case == "cointeraction":
            g = cointeraction_graph(user, item, world.n_users, world.n_items, min_users=5)
        elif case.startswith("user_cooccurrence"):
            g = user_cooccurrence_graph(user, item, world.n_users, world.n_items, top_k=40, norm="softmax")
        else:
            g = surfing_graph(bipartite_graph(user, item, world.n_users, world.n_items), K=3, alpha=0.98, top_k=32)
    seconds = time.perf_counter() - start
    info.update(seconds=seconds, edges=g.nnz, peak_rss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    if device == "cuda":
        info["peak_cuda_mb"] = torch.cuda.max_memory_allocated() / 2**20
    return info


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--case", choices=list(CASES), action="append")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--device", default="cpu")
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        print(json.dumps(run_case(args.case[0], args.device)))
        return
    print(f"command: python {' '.join(sys.argv)}")
    print(f"torch threads: {torch.get_num_threads()}, device: {args.device}")
    print(f"{'case':<70} {'median s':>9} {'runs s':>24} {'peak RSS MB':>12} {'edges':>12} {'target':>16}")
    for case in args.case or list(CASES):
        results = []
        for _ in range(args.repeats):
            out = subprocess.run([sys.executable, __file__, "--child", "--case", case, "--device", args.device],
                                 capture_output=True, text=True, check=True)
            results.append(json.loads(out.stdout.strip().splitlines()[-1]))
        title, t_target, mem_target = CASES[case]
        secs = [r["seconds"] for r in results]
        rss = max(r["peak_rss_mb"] for r in results)
        target = (f"<= {t_target}s" if t_target else "-") + (f", {mem_target // 1024} GB" if mem_target else "")
        print(f"{title:<70} {statistics.median(secs):>9.1f} {', '.join(f'{s:.1f}' for s in secs):>24} {rss:>12.0f} "
              f"{results[0]['edges']:>12,} {target:>16}")
        extra = {k: v for k, v in results[0].items() if k not in ('seconds', 'edges', 'peak_rss_mb')}
        print(f"  inputs: {extra}")


if __name__ == "__main__":
    main()
