"""The graph cache is verified, not trusted: a tampered file is rebuilt with a warning; keys cover each builder's
declared inputs; parameters are checked; an unwritable cache does not fail a run; graph_cache=false writes none."""

import logging

import numpy as np
import pytest
import torch

from graphrec.errors import ConfigError
from graphrec.graphs import store as store_module
from graphrec.graphs.store import Builder, GraphSpec, GraphStore, TrainingGraphInput
from tests.test_bad_input import assert_clean_error, run_cli
from tests.test_graph_builders import random_interactions

SPEC = GraphSpec("bipartite", {"norm": "symmetric"})


def inputs(features=None):
    user, item = random_interactions()
    return TrainingGraphInput(user, item, 30, 20, features if features is not None else {"visual": torch.randn(20, 4)})


def rewrite(path, **changes):
    """Rewrite a cache file with some arrays changed; ``fix_checksum`` recomputes the checksum (a forger)."""
    with np.load(path, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    fix = changes.pop("fix_checksum", False)
    arrays.update(changes)
    if fix:
        arrays["checksum"] = np.array(store_module._checksum(arrays, str(arrays["key"])))
    with open(path, "wb") as f:
        np.savez(f, **arrays)


@pytest.mark.parametrize("tamper,reason", [
    (lambda z: {"col": np.where(np.arange(z["col"].size) == 0, 10 ** 6, z["col"]), "fix_checksum": True},
     "column ids outside"),  # crashed the native kernel with a segmentation fault before
    (lambda z: {"values": z["values"] * 1000}, "checksum mismatch"),  # was used silently before
    (lambda z: {"crow": z["crow"][::-1].copy(), "fix_checksum": True}, "row pointers"),
    (lambda z: {"values": np.full_like(z["values"], np.nan), "fix_checksum": True}, "non-finite"),
    (lambda z: {"col": z["col"].astype(np.int32), "fix_checksum": True}, "dtypes"),
    (lambda z: {"key": np.array("0" * 24)}, "written for key"),
])
def test_tampered_cache_file_is_rebuilt_with_a_warning(tmp_path, caplog, tamper, reason):
    data = inputs()
    built = GraphStore(data, tmp_path).get(SPEC)
    (path,) = tmp_path.glob("*.npz")
    with np.load(path, allow_pickle=False) as z:
        rewrite(path, **tamper(z))
    with caplog.at_level(logging.WARNING, logger="graphrec"):
        store = GraphStore(data, tmp_path)
        graph = store.get(SPEC)
    assert store.cache_hits[SPEC.key()] is False
    assert torch.equal(graph.to_dense(), built.to_dense())
    (warning,) = [r.getMessage() for r in caplog.records]
    assert str(path) in warning and reason in warning and "rebuilding" in warning
    assert GraphStore(data, tmp_path).get(SPEC) is not None  # rewritten: the next store loads it cleanly
    assert len(caplog.records) == 1


def test_tampered_cache_does_not_crash_graphs_info(tmp_path):
    args = ("graphs", "info", "graph=bipartite", "dataset.synthetic.n_users=300", "dataset.synthetic.n_items=200")
    assert run_cli(*args, env_root=tmp_path).returncode == 0
    (path,) = (tmp_path / ".graphs").glob("*.npz")
    with np.load(path, allow_pickle=False) as z:
        rewrite(path, col=np.full_like(z["col"], 10 ** 7), fix_checksum=True)
    proc = run_cli(*args, env_root=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "rebuilding" in proc.stderr and "built in" in proc.stdout


def test_keys_cover_exactly_the_declared_inputs():
    data = inputs()
    other_features = TrainingGraphInput(data.user, data.item, 30, 20, {"visual": torch.randn(20, 4)})
    other_train = TrainingGraphInput(data.user[1:], data.item[1:], 30, 20, data.features)
    knn = GraphSpec("knn", {"modality": "visual", "k": 3})
    surf = GraphSpec("surfing", {"of": {"kind": "knn", "modality": "visual", "k": 3}})
    keys = {name: {s.kind: GraphStore(d).cache_key(s) for s in (SPEC, knn, surf)}
            for name, d in (("base", data), ("features", other_features), ("train", other_train))}
    assert keys["features"]["bipartite"] == keys["base"]["bipartite"] != keys["train"]["bipartite"]
    assert keys["train"]["knn"] == keys["base"]["knn"] != keys["features"]["knn"]
    assert keys["train"]["surfing"] == keys["base"]["surfing"] != keys["features"]["surfing"]
    assert set(store_module.BUILDERS["knn"].inputs) == {"feature"}


@pytest.mark.parametrize("spec,message", [
    (GraphSpec("knn", {"k": 3}), "missing parameter graph.modality"),
    (GraphSpec("knn", {"modality": "visual", "kk": 3}), "unknown parameter graph.kk"),
    (GraphSpec("knn", {"modality": "visual", "k": "abc"}), "graph.k must be int"),
    (GraphSpec("knn", {"modality": "visual", "k": -3}), "k must be at least 1, got -3"),
    (GraphSpec("cointeraction", {"min_users": 0}), "min_users must be at least 1"),
    (GraphSpec("user_cooccurrence", {"norm": "max"}), "norm must be 'none' or 'softmax'"),
    (GraphSpec("user_cooccurrence", {"top_k": 0}), "top_k must be at least 1"),
    (GraphSpec("bipartite", {"norm": "cubic"}), "unknown normalisation 'cubic'"),
    (GraphSpec("surfing", {"of": {"kind": "bipartite"}, "alpha": 2.0}), "0 ≤ α ≤ 1"),
])
def test_bad_graph_parameters_are_config_errors(tmp_path, spec, message):
    store = GraphStore(inputs(), tmp_path)
    with pytest.raises(ConfigError, match=message):
        store.get(spec)
    # nothing cached for the bad spec (surfing caches its valid base graph before it checks its own range)
    assert len(list(tmp_path.iterdir())) == (1 if spec.kind == "surfing" else 0)


def test_a_type_error_inside_a_builder_is_not_called_a_bad_parameter(monkeypatch):
    def broken(user, item, n_users, n_items, k: int = 3):
        return None + 1  # a bug, not the user's parameter

    monkeypatch.setitem(store_module.BUILDERS, "broken", Builder(broken, ("train",)))
    with pytest.raises(TypeError):
        GraphStore(inputs()).get(GraphSpec("broken", {"k": 2}))


def test_unwritable_cache_folder_turns_caching_off(tmp_path, caplog):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with caplog.at_level(logging.WARNING, logger="graphrec"):
        store = GraphStore(inputs(), blocker / ".graphs")
        assert store.get(SPEC).nnz > 0
    assert store.cache_dir is None and "graph cache off" in caplog.text


def test_graph_cache_false_writes_no_cache_file(tmp_path):
    args = ("graphs", "info", "graph=knn", "graph.modality=visual", "dataset.synthetic.n_users=300",
            "dataset.synthetic.n_items=200")
    proc = run_cli(*args, "graph_cache=false", env_root=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert not (tmp_path / ".graphs").exists()
    assert run_cli(*args, env_root=tmp_path).returncode == 0
    assert len(list((tmp_path / ".graphs").glob("*.npz"))) == 1


def test_graphs_info_user_errors(tmp_path):
    base = ("graphs", "info", "dataset.synthetic.n_users=300", "dataset.synthetic.n_items=200")
    assert_clean_error(run_cli(*base, "graph=knn", env_root=tmp_path), "graph.modality")
    assert_clean_error(run_cli(*base, "graph=knn", "graph.modality=visual", "graph.k=-3", env_root=tmp_path),
                       "k must be at least 1")
    assert not (tmp_path / ".graphs").exists()
