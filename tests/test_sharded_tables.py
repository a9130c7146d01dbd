"""TorchRec (optional): MF's and LightGCN's ID tables sharded table-wise / column-wise over 2 gloo ranks follow the
toolkit's unsharded MF / LightGCN on the same batches for 20 steps. Skipped where TorchRec is not installed
(README, "TorchRec")."""

import importlib.util
import json

import pytest

from graphrec.errors import ConfigError
from tests.test_distributed import torchrun

HAVE_TORCHREC = importlib.util.find_spec("torchrec") is not None


@pytest.mark.skipif(not HAVE_TORCHREC, reason="TorchRec is not installed (README, 'TorchRec', has the recipe)")
@pytest.mark.parametrize("model,sharding,optimizer", [("mf", "table_wise", "sgd"), ("mf", "column_wise", "adagrad"),
                                                     ("lightgcn", "table_wise", "adagrad"),
                                                     ("lightgcn", "column_wise", "sgd")])
def test_sharded_tables_follow_the_unsharded_model_for_20_steps(tmp_path, model, sharding, optimizer):
    proc = torchrun(tmp_path, "-m", "graphrec.sharded_tables", f"--model={model}", f"--sharding={sharding}",
                    f"--optimizer={optimizer}", "--steps=20")
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads([line for line in proc.stdout.splitlines() if line.startswith("{")][-1])
    assert out["world_size"] == 2 and len(out["sharded"]) == len(out["unsharded"]) == 20
    assert out["unsharded"][-1] < 0.9 * out["unsharded"][0]  # it trained: an optimiser left out would show
    assert out["max_rel_diff"] < 1e-5


@pytest.mark.skipif(HAVE_TORCHREC, reason="TorchRec is installed")
def test_without_torchrec_the_error_names_the_recipe():
    from graphrec.sharded_tables import TorchRecLightGCN, TorchRecMF

    for model in (TorchRecMF, TorchRecLightGCN):
        with pytest.raises(ConfigError, match="TorchRec is not installed: see README"):
            model(10, 10)
