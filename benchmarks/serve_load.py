"""Load test of ``graphrec serve`` on 127.0.0.1: latency percentiles and throughput, exact and faiss.

    python benchmarks/serve_load.py --export <dir> [--seconds 30] [--max-requests 20000] [--k 20]

For each index (``exact``: one matrix product per request; ``flat`` / ``hnsw``: faiss) a server subprocess is
started on a free loopback port (nothing else is contacted); for each concurrency (1, 8, 32) that many
clients send ``GET /recommend?user=<random known user>&k=<k>`` back to back for ``--seconds`` or
``--max-requests`` in all, whichever comes first. Printed: requests, throughput, p50 / p95 / p99 latency,
errors; and each faiss index's recall@k against the exact lists over ``--recall-users`` users (in process).
"""

from __future__ import annotations

import argparse
import asyncio
import random
import socket
import statistics
import subprocess
import sys
import time

import httpx
import numpy as np


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def load(port: int, users: list[str], k: int, concurrency: int, seconds: float, max_requests: int):
    latencies, errors = [], 0
    stop = time.perf_counter() + seconds
    sent = 0
    rng = random.Random(0)

    async def client():
        nonlocal sent, errors
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as c:
            while time.perf_counter() < stop and sent < max_requests:
                sent += 1
                start = time.perf_counter()
                r = await c.get("/recommend", params={"user": rng.choice(users), "k": k})
                latencies.append(time.perf_counter() - start)
                errors += r.status_code != 200

    start = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(concurrency)))
    return latencies, errors, time.perf_counter() - start


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) * 1e3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--export", required=True)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--max-requests", type=int, default=20_000)
    parser.add_argument("--k", type=int, default=20)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--indexes", nargs="+", default=["exact", "flat", "hnsw"])
    parser.add_argument("--recall-users", type=int, default=2000)
    args = parser.parse_args()
    from graphrec.serving.app import service_from_export

    exact = service_from_export(args.export)
    users = [str(u) for u in exact.art.arrays["raw_user_id"]]
    print(f"{exact.art.manifest['model']} on {exact.art.manifest['dataset']}: {len(users):,} users, "
          f"{exact.art.n_items:,} items, k = {args.k}; command: {' '.join(sys.argv)}")
    sample = random.Random(1).sample(users, min(args.recall_users, len(users)))
    truth = {r["user"]: {i["id"] for i in r["items"]} for r in exact.recommend(sample, args.k, "train")}
    print(f"{'index':<7}{'clients':>8}{'requests':>10}{'req/s':>9}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}"
          f"{'errors':>8}   recall@k vs exact")
    for index in args.indexes:
        recall = ""
        if index != "exact":
            got = service_from_export(args.export, index).recommend(sample, args.k, "train")
            recall = f"{statistics.mean(len(truth[r['user']] & {i['id'] for i in r['items']}) / args.k for r in got):.4f}"
        port = free_port()
        server = subprocess.Popen([sys.executable, "-m", "graphrec.cli", "serve", f"export={args.export}",
                                   f"port={port}", f"index={index}"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            deadline = time.time() + 60
            while time.time() < deadline:
                try:
                    if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    time.sleep(0.2)
            for concurrency in args.concurrency:
                latencies, errors, elapsed = asyncio.run(
                    load(port, users, args.k, concurrency, args.seconds, args.max_requests))
                print(f"{index:<7}{concurrency:>8}{len(latencies):>10,}{len(latencies) / elapsed:>9.1f}"
                      f"{percentile(latencies, 50):>9.2f}{percentile(latencies, 95):>9.2f}"
                      f"{percentile(latencies, 99):>9.2f}{errors:>8}   {recall}", flush=True)
        finally:
            server.terminate()
            server.wait(10)


if __name__ == "__main__":
    main()
