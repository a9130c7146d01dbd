"""``graphrec export`` and ``graphrec serve``: a real uvicorn server on a free loopback port, queried over HTTP."""

from __future__ import annotations

import re
import socket
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
import torch

httpx = pytest.importorskip("httpx")
uvicorn = pytest.importorskip("uvicorn")

from graphrec.errors import DataError  # noqa: E402
from graphrec.inference import load_run, recommend  # noqa: E402
from graphrec.serving.app import create_app, service_from_export  # noqa: E402
from graphrec.serving.export import export_run  # noqa: E402
from graphrec.training.run import run_training  # noqa: E402


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """uvicorn serving ``service`` in a thread on 127.0.0.1:<free port>."""

    def __init__(self, service):
        self.port = _free_port()
        self.server = uvicorn.Server(uvicorn.Config(create_app(service), host="127.0.0.1", port=self.port,
                                                    log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self):
        self.thread.start()
        deadline = time.time() + 20
        while not self.server.started and time.time() < deadline:
            time.sleep(0.05)
        assert self.server.started
        return httpx.Client(base_url=f"http://127.0.0.1:{self.port}", timeout=10)

    def __exit__(self, *exc):
        self.server.should_exit = True
        self.thread.join(10)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    from hydra import compose, initialize_config_dir

    from graphrec.configs import conf_dir
    from tests.conftest import SMALL_WORLD

    root = tmp_path_factory.mktemp("serve")
    runs = {}
    for model in ("mf", "neumf"):
        with initialize_config_dir(config_dir=conf_dir(), version_base="1.3"):
            cfg = compose("config", overrides=[*SMALL_WORLD, f"model={model}", "trainer.epochs=2",
                                               f"data_root={root / 'data'}"])
        run_training(cfg, root / model)
        runs[model] = root / model
    return root, runs


def test_served_lists_equal_graphrec_recommend_with_exclusions(trained):
    root, runs = trained
    out = export_run(runs["mf"], root / "export-mf")
    exp = load_run(runs["mf"])
    with Server(service_from_export(out)) as client:
        for exclude, theirs in (("train", "train"), ("train+valid", "train+valid"), ("none", "none"), ("all", "all")):
            expected = recommend(exp, [0, 1, 7], 5, theirs)
            for rec in expected:
                got = client.get("/recommend", params={"user": str(rec["user"]), "k": 5, "exclude": exclude}).json()
                assert [int(i["id"]) for i in got["items"]] == rec["items"] and got["fallback"] is None
                assert [i["score"] for i in got["items"]] == pytest.approx(rec["scores"], abs=1e-5)
        batch = client.post("/recommend", json={"users": [0, 1, 7], "k": 5}).json()["results"]
        assert [[int(i["id"]) for i in r["items"]] for r in batch] == [r["items"] for r in recommend(exp, [0, 1, 7], 5)]
        seen = set(exp.task.csr["train"].user_items(0).tolist())
        none = client.get("/recommend", params={"user": "0", "k": 50, "exclude": "none"}).json()
        assert seen & {int(i["id"]) for i in none["items"]}  # without exclusion the user's train items come back
        train = client.get("/recommend", params={"user": "0", "k": 50}).json()
        assert not seen & {int(i["id"]) for i in train["items"]}


def test_bad_requests_fallback_items_health_and_metrics(trained):
    root, runs = trained
    out = export_run(runs["mf"], root / "export-mf2")
    exp = load_run(runs["mf"])
    with Server(service_from_export(out)) as client:
        for params, field in (({"user": "0", "k": "0"}, "k"), ({"user": "0", "k": "x"}, "k"),
                              ({"user": "0", "exclude": "../etc"}, "exclude"), ({}, "user")):
            r = client.get("/recommend", params=params)
            assert r.status_code == 400 and r.json()["field"] == field
        assert client.post("/recommend", content=b"{not json").status_code == 400
        assert client.post("/recommend", json={"users": list(range(1001))}).json()["field"] == "users"
        r = client.get("/items/no-such-item")
        assert r.status_code == 404 and r.json()["field"] == "item"
        fallback = client.get("/recommend", params={"user": "stranger", "k": 3}).json()
        counts = torch.bincount(exp.task.parts["train"][1], minlength=exp.dataset.n_items)
        assert fallback["fallback"] == "popularity"
        assert [int(i["id"]) for i in fallback["items"]] == counts.argsort(descending=True, stable=True)[:3].tolist()
        assert client.get("/items/3").json()["raw_id"] == "3"
        assert client.get("/health").json()["n_items"] == exp.dataset.n_items
        text = client.get("/metrics").text
        assert 'graphrec_requests_total{path="/recommend",status="400"} 6' in text  # 4 GET + 2 POST
        assert 'graphrec_request_seconds_bucket{path="/recommend",le="+Inf"}' in text


def test_ranked_export_of_a_model_without_embeddings(trained):
    root, runs = trained
    out = export_run(runs["neumf"], root / "export-neumf", max_k=20)
    exp = load_run(runs["neumf"])
    service = service_from_export(out)
    assert service.art.kind == "ranked"
    for exclude in ("train", "train+valid"):
        expected = recommend(exp, [2, 5], 20, exclude)
        got = service.recommend(["2", "5"], 20, exclude)
        assert [[int(i["id"]) for i in g["items"]] for g in got] == [e["items"] for e in expected]
    with pytest.raises(Exception, match="between 1 and 20"):
        service.recommend(["2"], 21, "train")


def test_faiss_flat_equals_exact(trained):
    pytest.importorskip("faiss")
    root, runs = trained
    out = export_run(runs["mf"], root / "export-mf3")
    exact, flat = service_from_export(out), service_from_export(out, "flat")
    users = [str(u) for u in range(0, 300, 17)]
    a, b = exact.recommend(users, 10, "train"), flat.recommend(users, 10, "train")
    assert [[i["id"] for i in r["items"]] for r in a] == [[i["id"] for i in r["items"]] for r in b]


def test_tampered_export_refuses_to_start(trained, tmp_path):
    root, runs = trained
    out = export_run(runs["mf"], tmp_path / "export")
    emb = np.load(out / "item_emb.npy")
    emb[0, 0] += 1.0
    np.save(out / "item_emb.npy", emb)
    with pytest.raises(DataError, match="item_emb.npy: checksum differs"):
        service_from_export(out)
    r = subprocess.run([sys.executable, "-m", "graphrec.cli", "serve", f"export={out}", f"port={_free_port()}"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "checksum differs" in r.stderr and len(r.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("edit, needle", [
    (lambda m: m.pop("n_items"), "the entry 'n_items' is missing"),
    (lambda m: m.update(n_items=m["n_items"] + 50), "'n_items' is 250 but raw_item_id.npy has 200 rows"),
    (lambda m: m.update(n_users=m["n_users"] - 1), "'n_users' is 299 but raw_user_id.npy has 300 rows"),
    (lambda m: m["files"].pop("item_emb.npy"), "'item_emb.npy' is not among its files"),
    (lambda m: m.update(kind="lists"), "kind 'lists' is not one of embeddings, ranked"),
])
def test_an_edited_manifest_refuses_to_start(trained, tmp_path, edit, needle):
    import json

    root, runs = trained
    out = export_run(runs["mf"], tmp_path / "export")
    manifest = json.loads((out / "manifest.json").read_text())
    edit(manifest)
    (out / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(DataError, match=re.escape(needle)):
        service_from_export(out)
