"""DiffMM: seconds per training epoch and peak RSS, graphrec against the official code (HKUDS/DiffMM), alternating,
in one sitting; and the official code's per-epoch test figures read from its log.

    python benchmarks/diffmm_peer.py --official /path/to/DiffMM --rounds 2 [--variants fp32,bf16]
    python benchmarks/diffmm_peer.py --official-log /path/to/DiffMM/run.log      # its test figure per epoch

Per round: ``graphrec train dataset=tiktok model=diffmm model.diffusion_precision=<v> trainer.batch_size=1024
trainer.epochs=1`` for each variant (``results.json``: seconds of the training epoch, denoisers' pass and graph
generation included), then ``python Main.py --data tiktok_va --reg 1e-4 --ssl_reg 1e-2 --epoch 1 --trans 1
--e_loss 0.1 --cl_method 1`` (the README's TikTok command; the epoch is read from its log, from "Model Initialized"
to the "Train" line: denoisers, generation and the BPR phase, not its test), each under ``/usr/bin/time`` for the
peak RSS, with ``--threads`` threads. Other jobs should be paused.

The official checkout must be set up for this machine (no GPU, today's SciPy, no text features here), not
changing its maths: every ``.cuda()`` removed; ``setproctitle`` calls removed; ``trnMat.A`` →
``trnMat.toarray()``; in ``DataHandler.py`` a branch ``args.data == 'tiktok_va'`` → ``./Datasets/tiktok_va/``,
a folder holding ``trnMat.pkl``, ``tstMat.pkl``, ``image_feat.npy`` from ``../shared/datasets/tiktok-mmssl/
diffmm_format`` and its ``audio_feat.npy`` as ``text_feat.npy``: the official two-modality path (image + "text")
with the acoustic features, as graphrec's TikTok has visual + acoustic only. It runs in its own virtual
environment (``--python``; torch, numpy, scipy).
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OFFICIAL_ARGS = ["--data", "tiktok_va", "--reg", "1e-4", "--ssl_reg", "1e-2", "--trans", "1", "--e_loss", "0.1",
                 "--cl_method", "1"]
STAMP = r"(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+): "


def _timed(cmd: list[str], cwd: Path, threads: int, log: Path) -> int:
    """Runs ``cmd`` under /usr/bin/time; returns the peak RSS in kB (the command's output goes to ``log``)."""
    env = {**__import__("os").environ, "OMP_NUM_THREADS": str(threads)}
    with open(log, "w") as out:
        subprocess.run(["/usr/bin/time", "-f", "maxrss_kb %M", *cmd], cwd=cwd, env=env, stdout=out,
                       stderr=subprocess.STDOUT, check=True)
    return int(re.findall(r"maxrss_kb (\d+)", log.read_text())[-1])


def official_epochs(text: str) -> list[dict]:
    """Per epoch of an official log: seconds from the epoch's start to its "Train" line, and its test figures."""
    text = text.replace("\r", "\n")
    start = [datetime.fromisoformat(t) for t in re.findall(STAMP + r"Model Initialized", text)]
    trains = re.findall(STAMP + r"Epoch (\d+)/\d+, Train", text)
    tests = re.findall(STAMP + r"Epoch (\d+)/\d+, Test: Recall = ([\d.]+), NDCG = ([\d.]+)", text)
    out, previous = [], start[0] if start else None
    test_of = {int(e): (float(r), float(n)) for _, e, r, n in tests}
    test_at = {int(e): datetime.fromisoformat(t) for t, e, _, _ in tests}
    for stamp, epoch in trains:
        end, epoch = datetime.fromisoformat(stamp), int(epoch)
        row = {"epoch": epoch, "train_s": (end - previous).total_seconds() if previous else None}
        if epoch in test_of:
            row["recall@20"], row["ndcg@20"] = test_of[epoch]
        out.append(row)
        previous = test_at.get(epoch, end)
    return out


def sitting(official: Path, python: str, rounds: int, variants: list[str], threads: int) -> None:
    work = Path(tempfile.mkdtemp(prefix="diffmm_peer_"))
    rows = []
    for r in range(1, rounds + 1):
        for variant in variants:
            run_dir = work / f"ours_{variant}_r{r}"
            rss = _timed([sys.executable, "-m", "graphrec", "train", "dataset=tiktok", "model=diffmm",
                          f"model.diffusion_precision={variant}", "trainer.batch_size=1024", "trainer.epochs=1",
                          "trainer.progress=false", f"hydra.run.dir={run_dir}"], ROOT, threads, work / f"{run_dir.name}.log")
            res = json.loads((run_dir / "results.json").read_text())
            rows.append((f"graphrec {variant}", r, res["timing"]["train_s_per_epoch"], rss / 1024,
                         res["valid"]["recall@20"]))
            print(rows[-1], flush=True)
        log = work / f"official_r{r}.log"
        rss = _timed([python, "Main.py", *OFFICIAL_ARGS, "--epoch", "1"], official, threads, log)
        epoch = official_epochs(log.read_text())[0]
        rows.append(("official", r, epoch["train_s"], rss / 1024, epoch.get("recall@20")))
        print(rows[-1], flush=True)
    print("\n| code | round | s / training epoch | peak RSS MB | after 1 epoch: R@20 (graphrec: valid; official: test) |")
    print("|---|---|---|---|---|")
    for code, r, seconds, rss, recall in rows:
        print(f"| {code} | {r} | {seconds:.1f} | {rss:.0f} | {recall:.4f} |")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--official", type=Path, help="the set-up official checkout (module docstring)")
    p.add_argument("--python", default=None, help="its interpreter (default: <official>/.venv/bin/python)")
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--variants", default="fp32,bf16", help="graphrec's model.diffusion_precision values")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--official-log", type=Path, help="only print the per-epoch test figures of an official log")
    args = p.parse_args()
    print(f"command: {' '.join([Path(sys.executable).name, *sys.argv])}", flush=True)
    if args.official_log:
        epochs = official_epochs(args.official_log.read_text())
        for e in epochs:
            print(e)
        tested = [e for e in epochs if "recall@20" in e]
        if tested:
            best = max(tested, key=lambda e: e["recall@20"])
            print(f"best test epoch {best['epoch']} of {len(epochs)}: R@20 {best['recall@20']:.4f} N@20 {best['ndcg@20']:.4f}")
        return
    if args.official is None:
        p.error("--official or --official-log is needed")
    python = args.python or str(args.official / ".venv" / "bin" / "python")
    sitting(args.official, python, args.rounds, args.variants.split(","), args.threads)


if __name__ == "__main__":
    main()
