"""A full disk is one line naming the file, the space needed and free; the previous file stays, and a run
says which epoch its kept last.pt holds."""

from __future__ import annotations

import errno

import numpy as np
import pytest
import torch

from graphrec.atomic import atomic_write
from graphrec.data.storage import save_dataset
from graphrec.data.synthetic import generate_world
from graphrec.errors import DataError
from graphrec import checkpoints as checkpoint
from graphrec.checkpoints import load_checkpoint
from graphrec.training.run import run_training


def _full(*args, **kwargs):
    raise OSError(errno.ENOSPC, "No space left on device")


def test_atomic_write_on_a_full_disk_keeps_the_previous_file(tmp_path):
    target = tmp_path / "x.json"
    target.write_text("old")
    with pytest.raises(DataError, match=r"x.json: no space left on the device \(about 2.0 KB needed, .* free in "
                                        r".*\); the previous x.json is kept"):
        atomic_write(target, _full, size_hint=2048)
    assert target.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["x.json"]


def test_prepare_on_a_full_disk_writes_nothing(tmp_path, monkeypatch):
    monkeypatch.setattr(np, "save", _full)
    with pytest.raises(DataError, match=r"/w: no space left on the device \(about .* needed.*nothing was written"):
        save_dataset(generate_world(name="w", n_users=50, n_items=40, interactions_per_user=5), tmp_path)
    assert not (tmp_path / "w").exists() and not list(tmp_path.glob(".tmp-*"))


def test_a_run_that_fills_the_disk_keeps_its_last_checkpoint(make_cfg, tmp_path, monkeypatch):
    real_save = torch.save

    def save(obj, f, *args, **kwargs):
        if obj.get("state", {}).get("epoch", 0) >= 3:  # last.pt of epoch 3 does not fit
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_save(obj, f, *args, **kwargs)

    monkeypatch.setattr(checkpoint.torch, "save", save)
    with pytest.raises(DataError, match=r"last.pt: no space left.*checkpoints/last.pt holds epoch 2: free space, "
                                        r"then continue with trainer.resume=true"):
        run_training(make_cfg("model=mf", "trainer.epochs=5"), tmp_path / "run")
    monkeypatch.setattr(checkpoint.torch, "save", real_save)
    assert load_checkpoint(tmp_path / "run" / "checkpoints" / "last.pt")["state"]["epoch"] == 2
    res = run_training(make_cfg("model=mf", "trainer.epochs=5", f"trainer.resume={tmp_path / 'run'}"),
                       tmp_path / "run")
    assert res["epochs_run"] == 5
