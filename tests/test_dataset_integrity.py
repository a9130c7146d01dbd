"""Prepared datasets are verified on load, runs know which dataset they were trained on, bad data is refused
by line or field, and prepares are locked per name and leave no temp folders behind."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from graphrec.data import storage
from graphrec.data.dataset import Dataset, validate
from graphrec.data.storage import dataset_lock, fingerprint, load_dataset, save_dataset
from graphrec.data.synthetic import generate_world
from graphrec.errors import DataError
from tests.test_bad_input import assert_clean_error, leftovers, run_cli, write_inter

SMALL = dict(n_users=300, n_items=200, interactions_per_user=15)


def flip_byte(path, offset_from_end=9):
    data = bytearray(path.read_bytes())
    data[-offset_from_end] ^= 0x01
    path.write_bytes(bytes(data))


def test_flipped_byte_in_a_feature_file_is_refused_naming_it(tmp_path):
    save_dataset(generate_world(name="w", **SMALL), tmp_path)
    load_dataset("w", tmp_path)
    path = tmp_path / "w" / "feat.visual.npy"
    flip_byte(path)
    with pytest.raises(DataError, match=r"feat\.visual\.npy: checksum differs from meta.json"):
        load_dataset("w", tmp_path)


def test_verified_files_are_not_hashed_again(tmp_path, monkeypatch):
    save_dataset(generate_world(name="w", **SMALL), tmp_path)
    recorded = json.loads((tmp_path / "w" / storage.VERIFIED_FILE).read_text())
    assert set(recorded) == set(json.loads((tmp_path / "w" / "meta.json").read_text())["checksums"])
    hashed = []
    real = storage.file_sha256
    monkeypatch.setattr(storage, "file_sha256", lambda p: hashed.append(p.name) or real(p))
    load_dataset("w", tmp_path)
    assert hashed == []  # size and mtime unchanged since prepare
    os.utime(tmp_path / "w" / "item.npy")  # touched: hashed once more, then remembered again
    load_dataset("w", tmp_path)
    load_dataset("w", tmp_path)
    assert hashed == ["item.npy"]


def test_evaluate_refuses_a_dataset_replaced_under_the_same_name(tmp_path):
    root = tmp_path / "data"
    save_dataset(generate_world(name="w", seed=0, **SMALL), root)
    run = tmp_path / "run"
    proc = run_cli("train", "model=mf", "dataset=prepared", "dataset.name=w", "trainer.epochs=2", "device=cpu",
                   f"hydra.run.dir={run}", env_root=root, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    results = json.loads((run / "results.json").read_text())
    assert results["provenance"]["dataset_fingerprint"] == fingerprint(load_dataset("w", root))
    assert run_cli("evaluate", f"checkpoint={run}", env_root=root).returncode == 0
    save_dataset(generate_world(name="w", seed=1, **SMALL), root, overwrite=True)
    assert_clean_error(run_cli("evaluate", f"checkpoint={run}", env_root=root), "not the one this run was trained on")
    assert_clean_error(run_cli("recommend", f"checkpoint={run}", "users=[0]", env_root=root), "not the one")


@pytest.mark.parametrize("inter,needle", [
    ("userID\titemID\tx_label\n0\t12.7\t0\n1\t2\t1\n1\t0\t2\n", "line 2: '12.7' is not an integer"),
    ("userID\titemID\tx_label\n0\t1\t0\n1\t2\t1.5\n1\t0\t2\n", "line 3: '1.5' is not an integer"),
    ("userID\titemID\tx_label\n0\t1\t0\n1\tnan\t1\n1\t0\t2\n", "line 3: 'nan' is not a finite number"),
])
def test_fractional_and_non_finite_fields_are_refused(tmp_path, inter, needle):
    write_inter(tmp_path / "src", inter)
    proc = run_cli("data", "prepare", "mmrec", tmp_path / "src", "--name", "x", env_root=tmp_path / "root")
    assert proc.returncode == 2
    assert_clean_error(proc, "x.inter", needle)
    assert leftovers(tmp_path / "root") == []


def test_complex_features_and_fractional_ids_in_arrays_are_refused():
    with pytest.raises(DataError, match="feature 'visual': dtype complex64: complex values are not accepted"):
        validate(Dataset("d", 2, 2, np.array([0, 1]), np.array([0, 1]),
                         features={"visual": np.ones((2, 3), np.complex64)}), "src")
    with pytest.raises(DataError, match=r"item ids: id 1\.5 at row 1 is not an integer"):
        validate(Dataset("d", 2, 2, np.array([0, 1]), np.array([0.0, 1.5])), "src")
    with pytest.raises(DataError, match="split label 1.5"):
        validate(Dataset("d", 2, 2, np.array([0, 1]), np.array([0, 1]), split=np.array([0.0, 1.5])), "src")
    with pytest.raises(DataError, match="split label 7 at interaction 1"):
        validate(Dataset("d", 2, 2, np.array([0, 1]), np.array([0, 1]), split=np.array([0, 7])), "src")


def test_complex_feature_file_is_refused_by_prepare(tmp_path):
    write_inter(tmp_path / "src", "userID\titemID\tx_label\n0\t1\t0\n1\t2\t1\n1\t0\t2\n")
    np.save(tmp_path / "src" / "image_feat.npy", np.ones((3, 4), np.complex128) * (1 + 2j))
    proc = run_cli("data", "prepare", "mmrec", tmp_path / "src", "--name", "x", env_root=tmp_path / "root")
    assert_clean_error(proc, "feature 'visual'", "complex")
    assert "ComplexWarning" not in proc.stderr


@pytest.mark.parametrize("name", ["a/b", "../x", ".hidden", ""])
def test_dataset_names_are_folder_names(tmp_path, name):
    write_inter(tmp_path / "src", "userID\titemID\tx_label\n0\t1\t0\n1\t2\t1\n1\t0\t2\n")
    proc = run_cli("data", "prepare", "mmrec", tmp_path / "src", "--name", name, env_root=tmp_path / "root")
    assert proc.returncode == 2
    assert_clean_error(proc, "--name", "not a dataset name")
    assert not (tmp_path / "x").exists() and leftovers(tmp_path / "root") == []
    with pytest.raises(DataError, match="dataset.name"):
        load_dataset(name, tmp_path / "root")


def test_prepare_of_a_name_being_prepared_is_refused(tmp_path):
    write_inter(tmp_path / "src", "userID\titemID\tx_label\n0\t1\t0\n1\t2\t1\n1\t0\t2\n")
    root = tmp_path / "root"
    with dataset_lock("x", root):  # as a concurrent prepare of 'x' would hold it
        proc = run_cli("data", "prepare", "mmrec", tmp_path / "src", "--name", "x", env_root=root)
        assert_clean_error(proc, "dataset 'x'", "another process is preparing it")
        assert run_cli("data", "prepare", "mmrec", tmp_path / "src", "--name", "y", env_root=root).returncode == 0
    assert run_cli("data", "prepare", "mmrec", tmp_path / "src", "--name", "x", env_root=root).returncode == 0


def test_two_concurrent_prepares_of_one_name_never_both_succeed(tmp_path):
    src = tmp_path / "src"
    write_inter(src, "userID\titemID\tx_label\n" + "".join(f"{u}\t{i}\t{(u + i) % 3}\n"
                                                         for u in range(200) for i in range(0, 150, 7)))
    root = tmp_path / "root"
    env = dict(os.environ, GRAPHREC_DATA=str(root))
    for attempt in range(3):
        procs = [subprocess.Popen([sys.executable, "-m", "graphrec.cli", "data", "prepare", "mmrec", str(src),
                                   "--name", f"n{attempt}"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  text=True) for _ in range(2)]
        outcomes = [(p.wait(timeout=120), p.stderr.read()) for p in procs]
        assert sorted(rc for rc, _ in outcomes) == [0, 2], outcomes
        loser = next(err for rc, err in outcomes if rc == 2)
        assert "another process is preparing it" in loser or "already exists" in loser
    assert sorted(leftovers(root)) == ["n0", "n1", "n2"]


def test_temp_folders_of_dead_prepares_are_removed(tmp_path):
    root = tmp_path / "root"
    save_dataset(generate_world(name="w", **SMALL), root)
    dead = root / ".tmp-w-1a2b3c4d"  # what kill -9 during `data prepare` leaves
    dead.mkdir()
    (dead / "user.npy").write_bytes(b"partial")
    live = root / ".tmp-v-5e6f7a8b"
    live.mkdir()
    with dataset_lock("v", root):  # 'v' is still being prepared: its temp folder stays
        proc = run_cli("data", "list", env_root=root)
    assert proc.returncode == 0 and proc.stdout.startswith("w ")
    assert ".tmp-w-1a2b3c4d" in proc.stderr and not dead.exists() and live.exists()


def test_read_only_data_root_is_one_clear_line(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("a file where a folder should be")  # refuses writes even to root, unlike chmod
    write_inter(tmp_path / "src", "userID\titemID\tx_label\n0\t1\t0\n1\t2\t1\n1\t0\t2\n")
    proc = run_cli("data", "prepare", "mmrec", tmp_path / "src", "--name", "x", env_root=blocker / "root")
    assert_clean_error(proc, str(blocker / "root"), "cannot write")
    # a data root whose graph cache cannot be written: training and graphs info go on, uncached
    root = tmp_path / "root"
    save_dataset(generate_world(name="w", **SMALL), root)
    (root / ".graphs").write_text("not a folder")
    proc = run_cli("graphs", "info", "dataset=prepared", "dataset.name=w", "graph=bipartite", env_root=root)
    assert proc.returncode == 0 and "graph cache off" in proc.stderr, proc.stderr
    proc = run_cli("train", "model=lightgcn", "dataset=prepared", "dataset.name=w", "trainer.epochs=1", "device=cpu",
                   f"hydra.run.dir={tmp_path / 'run'}", env_root=root, cwd=tmp_path)
    assert proc.returncode == 0 and "graph cache off" in proc.stdout + proc.stderr, proc.stderr


def _edit_meta(folder, **changes):
    meta = json.loads((folder / "meta.json").read_text())
    meta.update(changes)
    (folder / "meta.json").write_text(json.dumps(meta))


@pytest.mark.parametrize("delta", [+5, -5])
@pytest.mark.parametrize("with_features", [True, False])
def test_meta_counts_edited_by_hand_are_refused_on_load(tmp_path, delta, with_features):
    world = generate_world(name="w", **SMALL)
    if not with_features:
        world.features = {}
    save_dataset(world, tmp_path)
    n_users, n_items = world.n_users, world.n_items
    _edit_meta(tmp_path / "w", n_items=n_items + delta)
    with pytest.raises(DataError, match=r"w/meta.json: n_items is \d+ but"):
        load_dataset("w", tmp_path)
    _edit_meta(tmp_path / "w", n_items=n_items, n_users=n_users + delta)
    with pytest.raises(DataError, match=r"w/meta.json: n_users is \d+ but"):
        load_dataset("w", tmp_path)
    _edit_meta(tmp_path / "w", n_users="many")
    with pytest.raises(DataError, match="'n_users' must be a non-negative integer"):
        load_dataset("w", tmp_path)
    _edit_meta(tmp_path / "w", n_users=n_users)
    assert load_dataset("w", tmp_path).n_items == n_items


def test_raised_item_count_is_one_line_from_train(tmp_path):
    save_dataset(generate_world(name="w", **SMALL), tmp_path)
    _edit_meta(tmp_path / "w", n_items=SMALL["n_items"] + 50)
    proc = subprocess.run([sys.executable, "-m", "graphrec", "train", "dataset=prepared", "dataset.name=w",
                           "model=mf", "trainer.epochs=1", f"data_root={tmp_path}", "trainer.progress=false"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines()[-1].startswith("graphrec: error: ") and "n_items is 250" in proc.stderr
