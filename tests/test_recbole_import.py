"""RecBole atomic files: header types, benchmark splits, item / user side fields, and ML-100K converted to
atomic files giving the same interactions as the MovieLens importer."""

from __future__ import annotations

import numpy as np
import pytest

from graphrec.cli.data import prepare
from graphrec.data.storage import load_dataset
from graphrec.errors import DataError
from tests.conftest import shared_dataset


def _write(folder, name, header, rows):
    (folder / name).write_text("\t".join(header) + "\n" + "\n".join("\t".join(map(str, r)) for r in rows) + "\n")


def test_benchmark_files_give_a_fixed_split_and_item_fields_land_in_the_dataset(tmp_path):
    src = tmp_path / "toy"
    src.mkdir()
    head = ["user_id:token", "item_id:token", "rating:float", "timestamp:float"]
    _write(src, "toy.train.inter", head, [("u1", "i1", 5, 10), ("u1", "i2", 3, 11), ("u2", "i1", 4, 12)])
    _write(src, "toy.valid.inter", head, [("u2", "i3", 2, 13)])
    _write(src, "toy.test.inter", head, [("u1", "i3", 1, 14), ("u3", "i2", 5, 15)])
    _write(src, "toy.item", ["item_id:token", "class:token_seq", "brand:token", "emb:float_seq", "year:float"],
           [("i1", "Action Drama", "b", "0.5 1.5", 1990), ("i2", "Drama", "a", "1 2", 1991), ("i4", "", "a", "3 4", 1992)])
    _write(src, "toy.user", ["user_id:token", "gender:token", "age:float"], [("u1", "F", 30), ("u2", "M", 40)])
    prepare("recbole", src, "toy", root=tmp_path / "data")
    ds = load_dataset("toy", tmp_path / "data")
    assert ds.raw["user_id"].tolist() == ["u1", "u2", "u3"] and ds.raw["item_id"].tolist() == ["i1", "i2", "i3", "i4"]
    pairs = {(ds.raw["user_id"][u], ds.raw["item_id"][i], int(s)) for u, i, s in zip(ds.user, ds.item, ds.split)}
    assert pairs == {("u1", "i1", 0), ("u1", "i2", 0), ("u2", "i1", 0), ("u2", "i3", 1), ("u1", "i3", 2), ("u3", "i2", 2)}
    assert sorted(ds.rating.tolist()) == [1, 2, 3, 4, 5, 5] and ds.timestamp.max() == 15
    assert ds.features["emb"].tolist() == [[0.5, 1.5], [1, 2], [0, 0], [3, 4]]  # i3 has no .item line
    assert ds.categories["brand"].tolist() == [1, 0, -1, 0]
    item, value, n = ds.item_field("class")
    assert n == 2 and sorted(zip(item.tolist(), value.tolist())) == [(0, 0), (0, 1), (1, 1)]  # Action 0, Drama 1
    assert ds.extras["user.gender"].tolist() == [0, 1, -1]
    assert "year" not in ds.features and "age" not in ds.extras


@pytest.mark.parametrize("header,message", [
    (["user_id", "item_id:token"], "'user_id' is not 'name:type'"),
    (["user_id:token", "item:token"], "no 'item_id:token' field"),
    (["user_id:token", "item_id:token", "rating:number"], "'rating:number' is not 'name:type'"),
])
def test_bad_headers_are_one_error_naming_the_file(tmp_path, header, message):
    src = tmp_path / "bad"
    src.mkdir()
    _write(src, "bad.inter", header, [("u", "i", 1)[:len(header)]])
    with pytest.raises(DataError, match=message) as info:
        prepare("recbole", src, "bad", root=tmp_path / "data")
    assert "bad.inter" in str(info.value)
    assert not (tmp_path / "data" / "bad").exists()


def test_a_missing_benchmark_part_is_named(tmp_path):
    src = tmp_path / "b"
    src.mkdir()
    for part in ("train", "test"):
        _write(src, f"b.{part}.inter", ["user_id:token", "item_id:token"], [("u", "i")])
    with pytest.raises(DataError, match="b.valid.inter missing"):
        prepare("recbole", src, "b", root=tmp_path / "data")


def test_ml100k_as_recbole_atomic_files_matches_the_movielens_importer(tmp_path):
    raw = shared_dataset("ml-100k")
    src = tmp_path / "ml-100k"
    src.mkdir()
    rows = [line.split("\t") for line in (raw / "u.data").read_text().splitlines()]
    _write(src, "ml-100k.inter", ["user_id:token", "item_id:token", "rating:float", "timestamp:float"], rows)
    genres = [line.split("|")[0] for line in (raw / "u.genre").read_text(encoding="latin-1").splitlines() if line]
    items = []
    for line in (raw / "u.item").read_text(encoding="latin-1").splitlines():
        f = line.split("|")
        items.append((f[0], " ".join(g for g, flag in zip(genres, f[5:]) if flag == "1")))
    _write(src, "ml-100k.item", ["item_id:token", "class:token_seq"], items)
    prepare("recbole", src, "rb", root=tmp_path / "data")
    prepare("movielens", raw, "ml", root=tmp_path / "data")
    rb, ml = load_dataset("rb", tmp_path / "data"), load_dataset("ml", tmp_path / "data")
    assert (rb.n_users, rb.n_items, rb.n_interactions) == (ml.n_users, ml.n_items, ml.n_interactions) == (943, 1682, 100_000)

    def keyed(ds):
        return sorted(zip(ds.raw["user_id"][ds.user].tolist(), ds.raw["item_id"][ds.item].tolist(),
                          ds.rating.tolist(), ds.timestamp.tolist()))
    assert keyed(rb) == keyed(ml)
    item, value, n = rb.item_field("class")
    genre_sets = {}
    for i, v in zip(item.tolist(), value.tolist()):
        genre_sets.setdefault(rb.raw["item_id"][i], set()).add(rb.extras["vocab.class"][v])
    names = ml.extras["genre_names"]
    ml_genres = {ml.raw["item_id"][i]: {names[g] for g in np.flatnonzero(row)} for i, row in enumerate(ml.features["genre"])}
    assert {k: v for k, v in ml_genres.items() if v} == genre_sets


def test_float_seq_fields_of_unequal_length_or_no_rows_are_named(tmp_path):
    src = tmp_path / "f"
    src.mkdir()
    _write(src, "f.inter", ["user_id:token", "item_id:token"], [("u", "i1"), ("u", "i2")])
    _write(src, "f.item", ["item_id:token", "emb:float_seq"], [("i1", "1 2"), ("i2", "3")])
    with pytest.raises(DataError, match="line 3: 'emb' has 1 values, line 2 has 2"):
        prepare("recbole", src, "f", root=tmp_path / "data")
    (src / "f.item").write_text("item_id:token\temb:float_seq\n")
    with pytest.raises(DataError, match="no item lines"):
        prepare("recbole", src, "f", root=tmp_path / "data")
