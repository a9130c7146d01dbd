"""TorchRec (optional): MF's ID tables sharded table-wise / column-wise over 2 gloo ranks follow the unsharded MF
on the same batches for 20 steps. Skipped where TorchRec is not installed (README, "TorchRec")."""

import importlib.util
import json

import pytest

from graphrec.errors import ConfigError
from tests.test_distributed import torchrun

HAVE_TORCHREC = importlib.util.find_spec("torchrec") is not None


@pytest.mark.skipif(not HAVE_TORCHREC, reason="TorchRec is not installed (README, 'TorchRec', has the recipe)")
@pytest.mark.parametrize("sharding,optimizer", [("table_wise", "sgd"), ("column_wise", "adagrad")])
def test_sharded_mf_follows_the_unsharded_one_for_20_steps(tmp_path, sharding, optimizer):
    proc = torchrun(tmp_path, "-m", "graphrec.sharded_tables", f"--sharding={sharding}", f"--optimizer={optimizer}",
                    "--steps=20")
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads([line for line in proc.stdout.splitlines() if line.startswith("{")][-1])
    assert out["world_size"] == 2 and len(out["sharded"]) == len(out["unsharded"]) == 20
    assert out["unsharded"][0] != out["unsharded"][-1]  # it trained
    assert out["max_rel_diff"] < 1e-5


@pytest.mark.skipif(HAVE_TORCHREC, reason="TorchRec is installed")
def test_without_torchrec_the_error_names_the_recipe():
    from graphrec.sharded_tables import TorchRecMF

    with pytest.raises(ConfigError, match="TorchRec is not installed: see README"):
        TorchRecMF(10, 10)
