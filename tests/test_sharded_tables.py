"""TorchRec (optional): MF's and LightGCN's ID tables sharded table-wise / column-wise over 2 gloo ranks follow the
toolkit's unsharded MF / LightGCN on the same batches for 20 steps. Skipped where TorchRec is not installed
(README, "TorchRec")."""

import importlib.util
import json

import pytest

from graphrec.errors import ConfigError
from tests.test_distributed import STEPS, assert_close_rel, losses, single, torchrun

HAVE_TORCHREC = importlib.util.find_spec("torchrec") is not None


@pytest.mark.skipif(not HAVE_TORCHREC, reason="TorchRec is not installed (README, 'TorchRec', has the recipe)")
@pytest.mark.parametrize("model,sharding,optimizer", [("mf", "table_wise", "sgd"), ("mf", "column_wise", "adagrad"),
                                                     ("lightgcn", "table_wise", "adagrad"),
                                                     ("lightgcn", "column_wise", "sgd")])
def test_sharded_tables_follow_the_unsharded_model_for_20_steps(tmp_path, model, sharding, optimizer):
    proc = torchrun(tmp_path, "-m", "graphrec.training.sharded_tables", f"--model={model}", f"--sharding={sharding}",
                    f"--optimizer={optimizer}", "--steps=20")
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads([line for line in proc.stdout.splitlines() if line.startswith("{")][-1])
    assert out["world_size"] == 2 and len(out["sharded"]) == len(out["unsharded"]) == 20
    assert out["unsharded"][-1] < 0.9 * out["unsharded"][0]  # it trained: an optimiser left out would show
    assert out["max_rel_diff"] < 1e-5


@pytest.mark.skipif(not HAVE_TORCHREC, reason="TorchRec is not installed (README, 'TorchRec', has the recipe)")
@pytest.mark.parametrize("model,tables", [("mf", "table_wise"), ("lightgcn", "column_wise")])
def test_graphrec_train_with_sharded_tables_follows_the_dense_run(tmp_path, model, tables):
    """``trainer.tables`` under torchrun: 2 ranks with TorchRec tables and the fused Adagrad follow one dense
    process with Adagrad for 20 steps; the checkpoints are plain state dicts that ``graphrec evaluate`` loads."""
    args = ["train", f"model={model}", *STEPS, "trainer.optimizer=adagrad", "trainer.lr=0.05"]
    one = single(tmp_path, *args, "hydra.run.dir=one")
    assert one.returncode == 0, one.stderr[-3000:]
    two = torchrun(tmp_path, "-m", "graphrec", *args, f"trainer.tables={tables}", "hydra.run.dir=two")
    assert two.returncode == 0, two.stderr[-3000:]
    a, b = losses(tmp_path / "one"), losses(tmp_path / "two")
    assert len(a) == len(b) == 10 and a[-1]["loss"] < 0.5 * a[0]["loss"]
    for row_a, row_b in zip(a, b):
        for key in row_a:
            assert_close_rel(row_a[key], row_b[key])
    ra, rb = (json.loads((tmp_path / d / "results.json").read_text()) for d in ("one", "two"))
    assert ra["best_epoch"] == rb["best_epoch"] and rb["distributed"]["world_size"] == 2
    for key, value in ra["test"].items():
        assert abs(value - rb["test"][key]) < 1e-4, key
    evaluated = single(tmp_path, "evaluate", "checkpoint=two", "format=json")
    assert evaluated.returncode == 0, evaluated.stderr[-3000:]
    assert json.loads(evaluated.stdout)["test"]["recall@20"] == pytest.approx(rb["test"]["recall@20"], abs=1e-6)


@pytest.mark.skipif(HAVE_TORCHREC, reason="TorchRec is installed")
def test_without_torchrec_the_error_names_the_recipe():
    from graphrec.training.sharded_tables import TorchRecLightGCN, TorchRecMF

    for model in (TorchRecMF, TorchRecLightGCN):
        with pytest.raises(ConfigError, match="TorchRec is not installed: see README"):
            model(10, 10)
