"""One honest leaderboard: every ranking model's preset, 3 seeds, the validation-selected test figure beside the
figure the papers' protocol would report from the same runs.

Each (model, seed) trains as `graphrec train experiment=<m>_<d> seed=<s> eval.test_each_epoch=true` (the
model's config defaults where it has no preset; `benchmarks/model_table.py` picks) in its own child process, so
the peak RSS is that model's. Testing every epoch is for one column only: `best_test_epoch` in results.json, the
epoch whose *test* recall@20 was highest and its N@20 (DiffMM's and MMSSL's `Main.py` report this; they have no
validation step). Nothing chooses on it: the selected figure is the test at the best *validation* epoch, as
every graphrec run reports. Inflation = best-test-epoch / selected − 1, per seed, then averaged.

    python benchmarks/leaderboard.py --dataset tiktok [--models a,b] [--seeds 0,1,2] [--out DIR] [overrides...]

Writes `leaderboard.md`, `leaderboard.csv` and `leaderboard.png` in --out (default benchmarks/out/leaderboard-
<dataset>); finished runs (`<model>/seed<s>/bench.json`) are reused, so an interrupted board resumes and
`--report` redraws it from what is there without training.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from model_table import MODELS, selection  # noqa: E402

from graphrec.atomic import write_text  # noqa: E402

# DiffMM (Jiang et al., MM 2024), Table 1, TikTok: best-test-epoch figures with a textual modality we lack
# (../shared/datasets/README.md); MMSSL's README gives 0.0921 / 0.0392.
PUBLISHED = {"mf": (0.0346, 0.0130), "ngcf": (0.0604, 0.0238), "lightgcn": (0.0653, 0.0282),
             "vbpr": (0.0380, 0.0134), "mmgcn": (0.0730, 0.0307), "grcn": (0.0804, 0.0350),
             "lattice": (0.0843, 0.0367), "slmrec": (0.0845, 0.0353), "bm3": (0.0957, 0.0404),
             "mmssl": (0.0921, 0.0392), "diffmm": (0.1129, 0.0456)}
COLUMNS = ["model", "setting", "seeds", "recall@20", "recall@20_sd", "ndcg@20", "ndcg@20_sd", "best_test_recall@20",
           "best_test_ndcg@20", "inflation_recall", "inflation_ndcg", "s_per_epoch", "peak_rss_mb", "parameters",
           "published_recall@20", "published_ndcg@20"]


@dataclass
class Row:
    """One model's seeds, summarised."""

    model: str
    setting: str  # the preset's name, or "defaults"
    runs: list[dict]

    def _values(self, part: str, metric: str) -> list[float]:
        return [r[part][metric] for r in self.runs if part in r]

    def mean_sd(self, metric: str) -> tuple[float, float]:
        values = self._values("test", metric)
        return statistics.fmean(values), (statistics.stdev(values) if len(values) > 1 else 0.0)

    def best_test(self, metric: str) -> float | None:
        values = self._values("best_test_epoch", metric)
        return statistics.fmean(values) if len(values) == len(self.runs) else None

    def inflation(self, metric: str) -> float | None:
        """Mean over seeds of best-test-epoch / validation-selected − 1."""
        if any("best_test_epoch" not in r for r in self.runs):
            return None
        return statistics.fmean(r["best_test_epoch"][metric] / r["test"][metric] - 1 for r in self.runs)

    def record(self) -> dict:
        (r, r_sd), (n, n_sd) = self.mean_sd("recall@20"), self.mean_sd("ndcg@20")
        published = PUBLISHED.get(self.model, (None, None))
        return {"model": self.model, "setting": self.setting, "seeds": len(self.runs),
                "recall@20": r, "recall@20_sd": r_sd, "ndcg@20": n, "ndcg@20_sd": n_sd,
                "best_test_recall@20": self.best_test("recall@20"), "best_test_ndcg@20": self.best_test("ndcg@20"),
                "inflation_recall": self.inflation("recall@20"), "inflation_ndcg": self.inflation("ndcg@20"),
                "s_per_epoch": statistics.median(x["timing"]["train_s_per_epoch"] for x in self.runs),
                "peak_rss_mb": max(x["peak_rss_mb"] for x in self.runs),
                "parameters": self.runs[0]["num_parameters"],
                "published_recall@20": published[0], "published_ndcg@20": published[1]}


def _fmt(value: float | None, spec: str) -> str:
    return "—" if value is None else format(value, spec)


def markdown(records: list[dict]) -> str:
    """The table, best validation-selected R@20 first."""
    lines = ["| model | setting | seeds | R@20 (selected on valid) | N@20 | R@20 best test epoch | N@20 there | "
             "inflation R / N | s/epoch | peak RSS MB | parameters | published R / N |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for x in records:
        published = ("—" if x["published_recall@20"] is None
                     else f"{x['published_recall@20']:.4f} / {x['published_ndcg@20']:.4f}")
        inflation = ("—" if x["inflation_recall"] is None
                     else f"+{100 * x['inflation_recall']:.1f}% / +{100 * x['inflation_ndcg']:.1f}%")
        lines.append(f"| {x['model']} | {x['setting']} | {x['seeds']} | {x['recall@20']:.4f} ± {x['recall@20_sd']:.4f} | "
                     f"{x['ndcg@20']:.4f} ± {x['ndcg@20_sd']:.4f} | {_fmt(x['best_test_recall@20'], '.4f')} | "
                     f"{_fmt(x['best_test_ndcg@20'], '.4f')} | {inflation} | {x['s_per_epoch']:.2f} | "
                     f"{x['peak_rss_mb']:.0f} | {x['parameters']:,} | {published} |")
    return "\n".join(lines) + "\n"


def to_csv(records: list[dict]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=COLUMNS)
    writer.writeheader()
    writer.writerows(records)
    return out.getvalue()


def figure(records: list[dict], path: Path, dataset: str) -> None:
    """Per model: the validation-selected R@20 (bar, ± sd) and the best-test-epoch R@20 of the same runs (dot)."""
    from graphrec.viz.figure import pyplot, save_figure

    plt = pyplot()
    ordered = records[::-1]  # best at the top
    fig, ax = plt.subplots(figsize=(7, 0.32 * len(ordered) + 1.2))
    ys = range(len(ordered))
    ax.barh(list(ys), [x["recall@20"] for x in ordered], xerr=[x["recall@20_sd"] for x in ordered],
            color="#4c72b0", label="test at the best validation epoch (graphrec)")
    tested = [(y, x["best_test_recall@20"]) for y, x in zip(ys, ordered) if x["best_test_recall@20"] is not None]
    if tested:
        ax.scatter([v for _, v in tested], [y for y, _ in tested], color="#dd8452", zorder=3, s=18,
                   label="best test epoch, same runs (papers' protocol)")
    ax.set_yticks(list(ys), [x["model"] for x in ordered])
    ax.set_xlabel(f"{dataset} recall@20 (mean of seeds)")
    ax.legend(loc="lower right", fontsize=8)
    save_figure(fig, path)


def gather(out: Path, models: list[str], seeds: list[int]) -> list[Row]:
    rows = []
    for model in models:
        runs = [json.loads(p.read_text()) for s in seeds if (p := out / model / f"seed{s}" / "bench.json").is_file()]
        if runs:
            rows.append(Row(model, runs[0].get("leaderboard_setting", "?"), runs))
    return rows


def report(out: Path, models: list[str], seeds: list[int], dataset: str) -> str:
    """Writes the table (markdown, CSV) and the figure from the finished runs; returns the markdown."""
    records = sorted((row.record() for row in gather(out, models, seeds)), key=lambda x: -x["recall@20"])
    table = markdown(records)
    write_text(out / "leaderboard.md", table)
    write_text(out / "leaderboard.csv", to_csv(records))
    if records:
        figure(records, out / "leaderboard.png", dataset)
    return table


def train_missing(out: Path, models: list[str], seeds: list[int], dataset: str, overrides: list[str]) -> None:
    for model in models:
        for seed in seeds:
            run_dir = out / model / f"seed{seed}"
            if (run_dir / "bench.json").is_file():
                continue
            start = time.perf_counter()
            cmd = [sys.executable, str(Path(__file__).parent / "model_table.py"), "--child", model, "--dataset",
                   dataset, "--run-dir", str(run_dir), "--seed", str(seed), "eval.test_each_epoch=true", *overrides]
            done = subprocess.run(cmd, capture_output=True, text=True)
            if done.returncode != 0:
                print(f"{model} seed {seed}: failed\n{done.stderr[-2000:]}", flush=True)
                continue
            print(f"{model} seed {seed}: {time.perf_counter() - start:.0f} s", flush=True)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--dataset", default="tiktok")
    p.add_argument("--models", default=None, help="comma-separated (default: every full-ranking model)")
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--out", default=None)
    p.add_argument("--report", action="store_true", help="only redraw the table and figure from finished runs")
    p.add_argument("overrides", nargs="*", help="extra Hydra overrides for every run")
    args = p.parse_args()
    out = Path(args.out or Path(__file__).parent / "out" / f"leaderboard-{args.dataset}")
    models = args.models.split(",") if args.models else MODELS
    seeds = [int(s) for s in args.seeds.split(",")]
    print(f"command: {' '.join([Path(sys.executable).name, *sys.argv])}", flush=True)
    if not args.report:
        train_missing(out, models, seeds, args.dataset, args.overrides)
    print(report(out, models, seeds, args.dataset))
    print(f"written: {out / 'leaderboard.md'}, leaderboard.csv, leaderboard.png")


if __name__ == "__main__":
    main()
