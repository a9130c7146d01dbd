"""DDP under torchrun (2 gloo processes on CPU): training follows one process on the same samples, sharded
evaluation gives exactly one process's metrics, a killed DDP run resumes to the uninterrupted DDP result, and
only rank 0 writes."""

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from graphrec import distributed as ddp
from graphrec.checkpoints import load_checkpoint
from tests.conftest import SMALL_WORLD

ROOT = Path(__file__).resolve().parents[1]
# 300 users × 15 = 4,500 interactions, 80% train = 3,600: batches of 1,801 give 2 steps an epoch, the second one
# odd-sized (1,799 rows: slices of 900 and 899), so 10 epochs are 20 steps and the loss weights are tested
STEPS = SMALL_WORLD + ["trainer.batch_size=1801", "trainer.epochs=10", "trainer.patience=100", "eval.block_size=64"]


def _env(tmp_path: Path) -> dict:
    env = dict(os.environ, GRAPHREC_DATA=str(tmp_path / "data"), OMP_NUM_THREADS="1")
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    return env


def single(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "graphrec", *args], capture_output=True, text=True,
                          cwd=tmp_path, env=_env(tmp_path), timeout=300)


def torchrun(tmp_path: Path, *args: str, nproc: int = 2) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone",
                           f"--nproc-per-node={nproc}", *args], capture_output=True, text=True, cwd=tmp_path,
                          env=_env(tmp_path), timeout=300)


def losses(run_dir: Path) -> list[dict[str, float]]:
    with open(run_dir / "metrics.csv") as f:
        return [{k: float(v) for k, v in row.items() if k.startswith("loss") and v} for row in csv.DictReader(f)]


def assert_close_rel(a: float, b: float, rel: float = 1e-5) -> None:
    assert abs(a - b) <= rel * max(abs(a), abs(b), 1e-12), (a, b)


def test_shard_batch_splits_whole_groups_and_weights_to_the_batch_mean():
    batch = {"user": torch.arange(14), "item": torch.arange(14) * 10}
    slices = [ddp.shard_batch(batch, ddp.Context(rank, 3), group=2) for rank in range(3)]
    assert [s["user"].tolist() for s, _ in slices] == [[0, 1, 2, 3, 4, 5], [6, 7, 8, 9], [10, 11, 12, 13]]
    assert all((s["item"] == s["user"] * 10).all() for s, _ in slices)
    # (1/N) Σ_r w_r · mean_r = the mean over the whole batch, for any values
    values = torch.randn(14, dtype=torch.float64)
    mean = sum(w * values[s["user"]].mean() for s, w in slices) / 3
    assert torch.isclose(mean, values.mean())
    # fewer groups than ranks: the empty rank gets one group with weight 0
    tiny = {"user": torch.arange(2)}
    first, w0 = ddp.shard_batch(tiny, ddp.Context(0, 3), group=2)
    empty, w2 = ddp.shard_batch(tiny, ddp.Context(2, 3), group=2)
    assert first["user"].tolist() == empty["user"].tolist() == [0, 1] and (w0, w2) == (3.0, 0.0)


@pytest.mark.parametrize("model", ["mf", "lightgcn"])
def test_ddp_follows_single_process_training_for_20_steps(tmp_path, model):
    args = ["train", f"model={model}", *STEPS]
    one = single(tmp_path, *args, "hydra.run.dir=one")
    assert one.returncode == 0, one.stderr
    two = torchrun(tmp_path, "-m", "graphrec", *args, "hydra.run.dir=two")
    assert two.returncode == 0, two.stderr[-3000:]
    a, b = losses(tmp_path / "one"), losses(tmp_path / "two")
    assert len(a) == len(b) == 10 and a[0].keys() == b[0].keys()
    for row_a, row_b in zip(a, b):
        for key in row_a:
            assert_close_rel(row_a[key], row_b[key])
    wa, wb = (load_checkpoint(tmp_path / d / "checkpoints" / "last.pt")["model"] for d in ("one", "two"))
    for name in wa:
        assert torch.allclose(wa[name], wb[name], rtol=1e-4, atol=1e-6), name
    ra, rb = (json.loads((tmp_path / d / "results.json").read_text()) for d in ("one", "two"))
    assert rb["distributed"] == {"backend": "gloo", "world_size": 2}
    assert ra["best_epoch"] == rb["best_epoch"]
    for key, value in ra["test"].items():
        assert abs(value - rb["test"][key]) < 1e-4, key
    # rank 0 alone wrote: the run dir holds what one process's holds, and one rank printed the run dir
    assert sorted(p.name for p in (tmp_path / "two").iterdir()) == sorted(p.name for p in (tmp_path / "one").iterdir())
    assert two.stdout.count("run dir:") == 1


def test_sharded_evaluation_gives_exactly_the_single_process_metrics(tmp_path):
    trained = single(tmp_path, "train", "model=lightgcn", *STEPS, "trainer.epochs=2", "hydra.run.dir=run")
    assert trained.returncode == 0, trained.stderr
    one = single(tmp_path, "evaluate", "checkpoint=run", "format=json")
    two = torchrun(tmp_path, "-m", "graphrec", "evaluate", "checkpoint=run", "format=json")
    assert one.returncode == 0 and two.returncode == 0, two.stderr[-3000:]
    a, b = json.loads(one.stdout), json.loads(two.stdout.strip().splitlines()[-1])
    assert a == b  # bit-identical: every block scored alike, block sums added in the same order
    assert a["test"]["n_users"] > 64 * 2  # several blocks, so both ranks scored some


def test_sharded_click_through_evaluation_equals_one_process(tmp_path):
    args = ["train", "model=din", *SMALL_WORLD, "dataset.synthetic.n_items=400", "trainer.epochs=2",
            "eval.block_size=256"]
    one = single(tmp_path, *args, "hydra.run.dir=one")
    two = torchrun(tmp_path, "-m", "graphrec", *args, "hydra.run.dir=two")
    assert one.returncode == 0 and two.returncode == 0, two.stderr[-3000:]
    a, b = (json.loads((tmp_path / d / "results.json").read_text()) for d in ("one", "two"))
    assert a["test"].keys() == b["test"].keys() and "auc" in a["test"]
    for key, value in a["test"].items():
        assert abs(value - b["test"][key]) < 1e-4, key


def test_a_killed_ddp_run_resumes_to_the_uninterrupted_ddp_result(tmp_path):
    args = [*SMALL_WORLD, "model=lightgcn", "trainer.batch_size=1801", "trainer.epochs=6", "trainer.patience=50"]
    ref = torchrun(tmp_path, "-m", "graphrec", "train", *args, "hydra.run.dir=ref")
    assert ref.returncode == 0, ref.stderr[-3000:]
    # SIGKILL when each rank draws its 7th batch: inside epoch 4 (2 batches an epoch)
    killed = torchrun(tmp_path, str(ROOT / "tests" / "fault_driver.py"), "batch", "7", *args,
                      "hydra.run.dir=outputs/cut")
    assert killed.returncode != 0
    cut = tmp_path / "outputs" / "cut"
    assert (cut / "checkpoints" / "last.pt").is_file() and not (cut / "results.json").exists()
    assert load_checkpoint(cut / "checkpoints" / "last.pt")["state"]["epoch"] == 3
    resumed = torchrun(tmp_path, "-m", "graphrec", "train", *args, "trainer.resume=true")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert [p.name for p in (tmp_path / "outputs").iterdir()] == ["cut"]
    a, b = (json.loads((tmp_path / d / "results.json").read_text()) for d in ("ref", "outputs/cut"))
    assert {k: v for k, v in a.items() if k != "timing"} == {k: v for k, v in b.items() if k != "timing"}


def test_ddp_without_torchrun_is_one_clear_line(tmp_path):
    proc = single(tmp_path, "train", "model=mf", *SMALL_WORLD, "trainer.distributed=ddp")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "torchrun --nproc-per-node" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1


class FinishedWork:
    def wait(self) -> bool:
        return True


def test_leaving_group_waits_for_the_peers_only_after_a_clean_finish(monkeypatch):
    calls, work, held = [], FinishedWork(), []
    monkeypatch.setattr(ddp, "_FINAL_BARRIER", held)
    monkeypatch.setattr(ddp.dist, "is_initialized", lambda: True)
    monkeypatch.setattr(ddp.dist, "barrier", lambda async_op=False: calls.append(f"barrier {async_op}") or work)
    monkeypatch.setattr(ddp.dist, "destroy_process_group", lambda: calls.append("destroy"))
    with ddp.leaving_group():
        calls.append("body")
    assert calls == ["body", "barrier True", "destroy"]  # in step: no rank tears down its pairs mid-collective
    assert held == [work]  # Python, not gloo's worker thread, frees the last collective's tensors (at exit)
    calls.clear()
    with pytest.raises(SystemExit):
        with ddp.leaving_group():
            raise SystemExit(1)
    assert calls == ["destroy"]  # a failed rank must not wait at a barrier its peers may never reach
