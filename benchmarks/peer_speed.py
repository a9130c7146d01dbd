"""Seconds per training epoch and peak RSS, graphrec against MMRec's own code, alternating, in one sitting.

    python benchmarks/peer_speed.py --mmrec /path/to/MMRec --models bm3,selfcf --rounds 2 --epochs 3

For each model and round: graphrec's ``benchmarks/train_speed.py`` (its config defaults on TikTok, median of
``--epochs`` training epochs after a warm-up) and MMRec's trainer on the same split with the same settings
(single-value grids, ``--epochs`` epochs, median of its logged training times; it also validates and tests after
every epoch, logged apart), each alone, each wrapped in ``/usr/bin/time -v`` for the peak RSS. MMRec must be set
up as ``../shared/peers.md`` says (patched for today's numpy / scipy / torch, ``data/tiktok`` written, its own
virtual environment at ``<mmrec>/.venv``; DualGNN, DRAGON and MVGAE also need ``torch_geometric`` there).
DAMRS reads an item–item file (``--item-graph`` writes it: each item's top 2 items by common training users, at
least 2, as DA-MRS's ``build_iib_graph.py``). DualGNN and DRAGON read a user–user file that MMRec's ``preprocessing/dualgnn-gen-u-u-matrix.py`` writes with a
Python loop over user pairs; ``--user-graph`` writes the same content (each user's top 200 users by shared
training items, counts descending) from ``data/tiktok/tiktok.inter`` with one sparse product.
MMRec's MVGAE takes minutes per epoch here: ``--peer-epochs 1`` times one MMRec epoch (no warm-up dropped).
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent

# graphrec model -> (MMRec model, MMRec settings equal to graphrec's config defaults)
PEERS = {
    "bm3": ("BM3", {"n_layers": [1], "dropout": [0.5], "reg_weight": [0.1], "cl_weight": 2.0}),
    "selfcf": ("SELFCFED_LGN", {"n_layers": [2], "dropout": [0.1], "reg_weight": [1e-4]}),
    "layergcn": ("LayerGCN", {"n_layers": [4], "dropout": [0.1], "reg_weight": [1e-3]}),
    "mgcn": ("MGCN", {"cl_loss": [0.01], "reg_weight": 1e-4, "knn_k": 10}),
    "lgmrec": ("LGMRec", {}),
    "smore": ("SMORE", {"n_ui_layers": [3], "image_knn_k": [10], "text_knn_k": [10], "reg_weight": [1e-4],
                        "dropout_rate": [0.1]}),
    "slmrec": ("SLMRec", {"learning_rate": [0.001], "ssl_temp": [0.2], "ssl_alpha": [0.1], "reg": [0.0001]}),
    "dualgnn": ("DualGNN", {"learning_rate": [0.001], "reg_weight": [0.001], "aggr_mode": ["add"]}),
    "dragon": ("DRAGON", {"learning_rate": [0.001], "reg_weight": [0.001], "aggr_mode": ["add"]}),
    "mmgcf": ("MMGCF", {"n_ui_layers": [2], "reg_weight": [0.001], "fusion_mode": ["mean"], "weighting": ["equal"],
                        "dropout": [0.5]}),
    "pgl": ("PGL", {"reg_weight": [0], "dropout": [0.2], "mode": ["local"]}),
    "mvgae": ("MVGAE", {"learning_rate": [0.001], "beta": [0.1]}),
    "damrs": ("DAMRS", {"n_ui_layers": [3], "neighbor_weight": [0.001], "kl_weight": [1], "n_mm_layers": [1],
                        "knn_k": 10, "learning_rate": [0.001]}),
}

# MMRec on CPU with 2 threads, settings from the command line (YAML values); not MMRec code
DRIVER = """
import os, sys, yaml
root = sys.argv[1]
sys.path.insert(0, os.path.join(root, "src")); os.chdir(os.path.join(root, "src"))
import torch
torch.set_num_threads(2)
from utils.quick_start import quick_start
cfg = {"gpu_id": 0, "use_gpu": False}
for kv in sys.argv[3:]:
    k, v = kv.split("=", 1)
    cfg[k] = yaml.safe_load(v)
quick_start(model=sys.argv[2], dataset="tiktok", config_dict=cfg, save_model=False)
"""


def timed(cmd: list[str], env: dict[str, str]) -> tuple[str, float]:
    """Run ``cmd`` under /usr/bin/time -v; its output and its peak RSS in MB."""
    out = subprocess.run(["/usr/bin/time", "-v", *cmd], env=env, capture_output=True, text=True)
    text = out.stdout + out.stderr
    if out.returncode != 0:
        sys.exit(f"failed ({out.returncode}): {' '.join(cmd)}\n{text[-3000:]}")
    rss = re.search(r"Maximum resident set size \(kbytes\): (\d+)", text)
    return text, int(rss.group(1)) / 1024 if rss else float("nan")


def ours(model: str, epochs: int, env: dict[str, str]) -> tuple[float, float]:
    text, rss = timed([sys.executable, str(HERE / "train_speed.py"), "--model", model, "--epochs", str(epochs),
                       "--evals", "1"], env)
    return float(re.search(r"train epoch: median ([\d.]+)", text).group(1)), rss


def _training_matrix(mmrec: Path):
    """MMRec's TikTok training rows (``x_label == 0``) as a binary users × items CSR, and its folder."""
    import numpy as np
    import scipy.sparse as sp

    folder = mmrec / "data" / "tiktok"
    header = (folder / "tiktok.inter").read_text().split("\n", 1)[0].split("\t")
    columns = tuple(header.index(c) for c in ("userID", "itemID", "x_label"))
    rows = np.loadtxt(folder / "tiktok.inter", delimiter="\t", skiprows=1, usecols=columns, dtype=np.int64)
    n_users, n_items = rows[:, 0].max() + 1, rows[:, 1].max() + 1
    train = rows[rows[:, 2] == 0]
    r = sp.csr_matrix((np.ones(len(train), np.float32), (train[:, 0], train[:, 1])), shape=(n_users, n_items))
    r.data[:] = 1.0
    return r, folder


def _write_neighbour_dict(shared, top: int, min_count: int, path: Path) -> None:
    """{row: [neighbours, counts]}: each row's ``top`` largest off-diagonal counts ≥ ``min_count`` (ties: smaller
    id), MMRec's pickled-dict format."""
    import numpy as np

    shared = shared.tocsr()
    shared.setdiag(0)
    shared.data[shared.data < min_count] = 0
    shared.eliminate_zeros()
    graph = {}
    for u in range(shared.shape[0]):
        lo, hi = shared.indptr[u], shared.indptr[u + 1]
        order = np.lexsort((shared.indices[lo:hi], -shared.data[lo:hi]))[:top]
        graph[u] = [shared.indices[lo:hi][order].tolist(), shared.data[lo:hi][order].astype(float).tolist()]
    np.save(path, graph, allow_pickle=True)
    print(f"wrote {path}: {shared.shape[0]} rows, {shared.nnz} pairs")


def write_user_graph(mmrec: Path, top: int = 200) -> None:
    """``data/tiktok/user_graph_dict.npy`` for MMRec's DualGNN / DRAGON: each user's ``top`` users by shared
    training items."""
    r, folder = _training_matrix(mmrec)
    _write_neighbour_dict(r @ r.T, top, 1, folder / "user_graph_dict.npy")


def write_item_graph(mmrec: Path, top: int = 2) -> None:
    """``data/tiktok/item_graph_dict_2.npy`` for MMRec's DAMRS (the official DA-MRS ``build_iib_graph.py`` output):
    each item's ``top`` items by common training users, pairs with at least 2."""
    r, folder = _training_matrix(mmrec)
    _write_neighbour_dict(r.T @ r, top, 2, folder / f"item_graph_dict_{top}.npy")


def theirs(model: str, mmrec: Path, epochs: int, env: dict[str, str],
           peer_epochs: int | None = None) -> tuple[float, float, float]:
    name, settings = PEERS[model]
    n = peer_epochs or epochs + 1
    args = [f"{k}={v}" for k, v in {"seed": [999], "epochs": n, **settings}.items()]
    text, rss = timed([str(mmrec / ".venv" / "bin" / "python"), "-c", DRIVER, str(mmrec), name, *args], env)
    skip = 1 if n > 1 else 0  # first epoch: warm-up, when there is more than one
    train = [float(t) for t in re.findall(r"training \[time: ([\d.]+)s", text)][skip:]
    valid = [float(t) for t in re.findall(r"evaluating \[time: ([\d.]+)s", text)][skip:]
    return statistics.median(train), statistics.median(valid), rss


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--mmrec", type=Path, required=True, help="MMRec checkout, patched, with .venv and data/tiktok")
    p.add_argument("--models", default=",".join(PEERS))
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--peer-epochs", type=int, default=None, help="MMRec epochs to run (default --epochs + 1)")
    p.add_argument("--user-graph", action="store_true", help="write MMRec's user_graph_dict.npy first")
    p.add_argument("--item-graph", action="store_true", help="write MMRec's item_graph_dict_2.npy (DAMRS) first")
    args = p.parse_args()
    if args.user_graph:
        write_user_graph(args.mmrec)
    if args.item_graph:
        write_item_graph(args.mmrec)
    env = {**os.environ, "OMP_NUM_THREADS": "2"}
    print(f"command: python {' '.join(sys.argv)}")
    print("model     round  graphrec s/epoch  RSS MB | MMRec s/epoch (+valid pass)  RSS MB | ratio")
    for model in args.models.split(","):
        for r in range(1, args.rounds + 1):
            ours_s, ours_rss = ours(model, args.epochs, env)
            their_s, their_valid, their_rss = theirs(model, args.mmrec, args.epochs, env, args.peer_epochs)
            print(f"{model:9} {r:5}  {ours_s:16.3f} {ours_rss:7.0f} | {their_s:13.3f} (+{their_valid:.3f})"
                  f"          {their_rss:7.0f} | {their_s / ours_s:5.1f}x", flush=True)


if __name__ == "__main__":
    main()
