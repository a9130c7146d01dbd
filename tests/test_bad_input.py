"""Every bad input gives one clear line naming the file or field, a non-zero exit, no traceback, and leaves
nothing half-written."""

import subprocess
import sys
import warnings

import numpy as np
import pytest

from graphrec.data.dataset import Dataset, validate
from graphrec.errors import DataError


def run_cli(*args, env_root=None, cwd=None):
    import os

    env = dict(os.environ)
    if env_root is not None:
        env["GRAPHREC_DATA"] = str(env_root)
    return subprocess.run([sys.executable, "-m", "graphrec.cli", *map(str, args)], capture_output=True, text=True,
                          env=env, cwd=cwd, timeout=300)


def assert_clean_error(proc, *needles):
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr
    lines = [line for line in proc.stderr.strip().splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]


def write_inter(path, text):
    path.mkdir(parents=True, exist_ok=True)
    (path / "x.inter").write_text(text)


def leftovers(root):
    """What a failed write left in a data root (the per-name lock files are meant to stay)."""
    return [p.name for p in root.iterdir() if p.name != ".locks"] if root.exists() else []


def test_missing_source_and_unknown_format(tmp_path):
    assert_clean_error(run_cli("data", "prepare", "diffmm", tmp_path / "nope", "--name", "x", env_root=tmp_path),
                       "nope", "does not exist")
    assert_clean_error(run_cli("data", "prepare", "csvzz", tmp_path, "--name", "x", env_root=tmp_path),
                       "unknown format", "csvzz")


def test_truncated_and_malformed_files(tmp_path):
    src = tmp_path / "src"
    write_inter(src, "userID\titemID\tx_label\n0\t1\t0\n1\t2\n")  # truncated last row
    assert_clean_error(run_cli("data", "prepare", "mmrec", src, "--name", "x", env_root=tmp_path / "root"),
                       "x.inter", "line 3")
    write_inter(src, "userID\titemID\tx_label\n0\tabc\t0\n")
    assert_clean_error(run_cli("data", "prepare", "mmrec", src, "--name", "x", env_root=tmp_path / "root"),
                       "x.inter", "abc")
    bad_npy = tmp_path / "bad"
    bad_npy.mkdir()
    for f in ("trnMat.pkl", "valMat.pkl", "tstMat.pkl"):
        (bad_npy / f).write_bytes(b"\x80\x04garbage")
    assert_clean_error(run_cli("data", "prepare", "diffmm", bad_npy, "--name", "x", env_root=tmp_path / "root"),
                       "trnMat.pkl")
    assert leftovers(tmp_path / "root") == []


def test_feature_rows_and_nan(tmp_path):
    src = tmp_path / "src"
    write_inter(src, "userID\titemID\tx_label\n0\t1\t0\n1\t2\t1\n1\t0\t2\n")
    np.save(src / "image_feat.npy", np.zeros((2, 4), np.float32))
    proc = run_cli("data", "prepare", "mmrec", src, "--name", "x", env_root=tmp_path / "root")
    assert_clean_error(proc, "visual", "2 rows", "3 items")
    feat = np.ones((3, 4), np.float32)
    feat[1, 2] = np.nan
    np.save(src / "image_feat.npy", feat)
    assert_clean_error(run_cli("data", "prepare", "mmrec", src, "--name", "x", env_root=tmp_path / "root"),
                       "visual", "NaN")
    assert leftovers(tmp_path / "root") == []


def test_negative_and_out_of_range_ids():
    with pytest.raises(DataError, match="negative id"):
        validate(Dataset("d", 2, 2, np.array([0, -1]), np.array([0, 1])), "f.inter")
    with pytest.raises(DataError, match="item ids: id 5 out of range"):
        validate(Dataset("d", 2, 2, np.array([0, 1]), np.array([0, 5])), "f.inter")


def test_duplicates_are_dropped_with_warning():
    ds = Dataset("d", 2, 3, np.array([0, 0, 1, 0]), np.array([1, 1, 2, 2]), split=np.array([1, 0, 0, 2]))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = validate(ds, "f.inter")
    assert any("duplicate" in str(w.message) for w in caught)
    assert out.n_interactions == 3
    # the duplicate (0, 1) keeps its train occurrence
    assert out.split[(out.user == 0) & (out.item == 1)].tolist() == [0]


def test_empty_split_unknown_model_unknown_key_missing_dataset(tmp_path):
    src = tmp_path / "src"
    write_inter(src, "userID\titemID\tx_label\n0\t1\t0\n1\t2\t0\n1\t0\t1\n")  # no test rows
    root = tmp_path / "root"
    assert run_cli("data", "prepare", "mmrec", src, "--name", "notest", env_root=root).returncode == 0
    proc = run_cli("train", "dataset=prepared", "dataset.name=notest", "hydra.run.dir=" + str(tmp_path / "run"),
                   env_root=root, cwd=tmp_path)
    assert_clean_error(proc, "notest", "test split is empty")
    assert not (tmp_path / "run").exists()  # no half-made run dir
    proc = run_cli("train", "dataset=prepared", "dataset.name=ghost", env_root=root, cwd=tmp_path)
    assert_clean_error(proc, "ghost", "not found")
    assert_clean_error(run_cli("train", "model=nosuchmodel", env_root=root, cwd=tmp_path), "nosuchmodel", "lightgcn")
    assert_clean_error(run_cli("train", "trainer.nosuchkey=1", env_root=root, cwd=tmp_path), "trainer.nosuchkey")
    assert_clean_error(run_cli("train", "-m", "seed=0,1", "eval.nosuch=1", env_root=root, cwd=tmp_path), "eval.nosuch")
    assert_clean_error(run_cli("train", "+model.extra=2", env_root=root, cwd=tmp_path), "model.extra")


def test_existing_dataset_not_overwritten(tmp_path):
    src = tmp_path / "src"
    write_inter(src, "userID\titemID\tx_label\n0\t1\t0\n1\t2\t1\n1\t0\t2\n")
    root = tmp_path / "root"
    assert run_cli("data", "prepare", "mmrec", src, "--name", "x", env_root=root).returncode == 0
    before = (root / "x" / "meta.json").read_text()
    assert_clean_error(run_cli("data", "prepare", "mmrec", src, "--name", "x", env_root=root), "already exists")
    assert (root / "x" / "meta.json").read_text() == before
    assert_clean_error(run_cli("data", "info", "nothere", env_root=root), "nothere")
