"""Checkpoints carry a checksum verified on load; run files follow the umask; atomic writes keep the old file."""

import os

import pytest
import torch

from graphrec.atomic import atomic_write
from graphrec.errors import GraphrecError
from graphrec.checkpoints import CHECKSUM_KEY, load_checkpoint, save_checkpoint
from graphrec.training.run import run_training
from tests.test_bad_input import assert_clean_error, run_cli
from tests.test_cli import FAST


def flip_inside(path, tensor):
    """Flip one bit of ``tensor``'s stored bytes in the file (a flipped byte on disk)."""
    data = bytearray(path.read_bytes())
    needle = tensor.detach().contiguous().reshape(-1)[:8].numpy().tobytes()
    at = data.find(needle)
    assert at >= 0
    data[at + 3] ^= 0x10
    path.write_bytes(bytes(data))


def test_checkpoint_round_trip_and_flipped_byte(tmp_path):
    obj = {"model": {"w": torch.linspace(0, 1, 64), "b": torch.ones(3, dtype=torch.bfloat16)},
           "epoch": 3, "valid": {"recall@20": 0.25}, "rng": torch.ByteTensor([1, 2]), "config": {"a": [1, None]}}
    path = tmp_path / "c.pt"
    save_checkpoint(obj, path)
    loaded = load_checkpoint(path)
    assert CHECKSUM_KEY not in loaded and torch.equal(loaded["model"]["w"], obj["model"]["w"])
    flip_inside(path, obj["model"]["w"])
    assert torch.load(path, weights_only=True)["epoch"] == 3  # torch itself does not notice
    with pytest.raises(GraphrecError, match="c.pt: checksum mismatch, the checkpoint is corrupted"):
        load_checkpoint(path)


def test_checkpoint_without_checksum_loads_with_a_warning(tmp_path, caplog):
    torch.save({"model": {"w": torch.ones(2)}}, tmp_path / "old.pt")
    assert torch.equal(load_checkpoint(tmp_path / "old.pt")["model"]["w"], torch.ones(2))
    assert "no checksum" in caplog.text


def test_evaluate_of_a_corrupted_checkpoint_is_one_line(tmp_path):
    run = tmp_path / "run"
    assert run_cli("train", "model=mf", *FAST, f"hydra.run.dir={run}", cwd=tmp_path).returncode == 0
    best = run / "checkpoints" / "best.pt"
    flip_inside(best, load_checkpoint(best)["model"]["user_emb.weight"][5:])
    proc = run_cli("evaluate", f"checkpoint={run}")
    assert proc.returncode == 2
    assert_clean_error(proc, "best.pt", "checksum mismatch")


@pytest.mark.parametrize("umask,mode", [(0o022, 0o644), (0o002, 0o664)])
def test_run_files_follow_the_umask(make_cfg, tmp_path, umask, mode):
    old = os.umask(umask)
    try:
        run_training(make_cfg("model=mf", "trainer.epochs=2"), tmp_path / "run")
        atomic_write(tmp_path / "f.txt", lambda tmp: open(tmp, "w").write("x"))
    finally:
        os.umask(old)
    for path in ("run/results.json", "run/metrics.csv", "run/checkpoints/best.pt", "run/checkpoints/last.pt",
                 "f.txt"):
        assert (tmp_path / path).stat().st_mode & 0o777 == mode, path


def test_failed_atomic_write_keeps_the_old_file(tmp_path):
    target = tmp_path / "f.txt"
    target.write_text("old")

    def fails(tmp):
        open(tmp, "w").write("half")
        raise OSError("disk full")

    with pytest.raises(OSError):
        atomic_write(target, fails)
    assert target.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["f.txt"]
