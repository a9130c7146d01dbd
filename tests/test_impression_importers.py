"""Impression importers: KuaiRand's log (the real like/hate subset and written fixtures), MicroVideo-1.7M's CSV
layout (a fixture, no copy exists offline) and MovieLens ratings read as impressions."""

import gzip

import numpy as np
import pytest

from graphrec.cli.data import prepare
from graphrec.data.storage import load_dataset
from graphrec.errors import DataError
from tests.conftest import shared_dataset
from tests.test_importers import write_ml_latest

KUAIRAND_HEAD = "user_id\tvideo_id\tdate\ttime_ms\tis_click\tis_like\tlong_view\tplay_time_ms\n"
KUAIRAND_ROWS = [  # raw user, raw video, time, click, like, long view, play time
    (70, 900, 1000, 1, 1, 0, 1500), (70, 905, 2000, 0, 0, 0, 0), (12, 900, 1500, 1, 0, 1, 800),
    (12, 903, 2500, 1, 0, 0, 300), (70, 903, 3000, 0, 0, 1, 0), (12, 905, 500, 0, 0, 0, 0),
]


def kuairand_text(rows=KUAIRAND_ROWS, sep="\t", head=KUAIRAND_HEAD) -> str:
    return head.replace("\t", sep) + "".join(
        sep.join(map(str, (u, v, 20220408, t, c, like, lv, play))) + "\n" for u, v, t, c, like, lv, play in rows)


def test_kuairand_real_log_counts_and_labels(tmp_path):
    src = shared_dataset("kuairand-27k-likehate")
    with pytest.warns(UserWarning, match="262 duplicate"):  # a user clicking one video twice is one interaction
        prepare("kuairand", src, "kr", tmp_path)
    ds = load_dataset("kr", tmp_path)
    imp = ds.impressions
    assert (ds.n_users, ds.n_items, imp["user"].size) == (664, 9359, 41828)  # the README's counts
    assert int(imp["click"].sum()) == 27484 and int(imp["label"].sum()) == 33745  # clicked; liked
    assert {"long_view", "is_follow", "label"} <= set(imp) and "play_time_ms" not in imp
    assert "play_time_ms" in ds.source["dropped_columns"]
    clicked = imp["click"] == 1
    pairs = np.unique(imp["user"][clicked] * ds.n_items + imp["item"][clicked])
    assert ds.n_interactions == pairs.size == 27484 - 262
    with gzip.open(next(src.glob("*.tsv.gz")), "rt") as f:
        head, first = f.readline().rstrip("\n").split("\t"), f.readline().rstrip("\n").split("\t")
    row = dict(zip(head, first))
    hit = ((ds.raw["user_id"][imp["user"]] == row["user_id"]) & (ds.raw["item_id"][imp["item"]] == row["video_id"])
           & (imp["timestamp"] == int(row["time_ms"])))
    assert hit.sum() == 1 and imp["click"][hit][0] == int(row["is_click"])
    assert 1.64e12 < imp["timestamp"].min() and imp["timestamp"].max() < 1.66e12  # ms, April 2022


@pytest.mark.parametrize("layout", ["log.tsv", "log.tsv.gz", "log.csv"])
def test_kuairand_layouts_give_one_dataset(tmp_path, layout):
    folder = tmp_path / "src"
    folder.mkdir()
    text = kuairand_text(sep="," if ".csv" in layout else "\t")
    if layout.endswith(".gz"):
        with gzip.open(folder / layout, "wt") as f:
            f.write(text)
    else:
        (folder / layout).write_text(text)
    prepare("kuairand", folder, "k", tmp_path / "root")
    ds = load_dataset("k", tmp_path / "root")
    assert ds.raw["user_id"].tolist() == ["12", "70"] and ds.raw["item_id"].tolist() == ["900", "903", "905"]
    imp = ds.impressions
    got = sorted(zip(ds.raw["user_id"][imp["user"]].astype(int), ds.raw["item_id"][imp["item"]].astype(int),
                     imp["timestamp"], imp["click"], imp["is_like"], imp["long_view"]))
    assert got == sorted((u, v, t, c, like, lv) for u, v, t, c, like, lv, _ in KUAIRAND_ROWS)
    # interactions are the clicks, with their times
    inter = sorted(zip(ds.raw["user_id"][ds.user].astype(int), ds.raw["item_id"][ds.item].astype(int), ds.timestamp))
    assert inter == sorted((u, v, t) for u, v, t, c, *_ in KUAIRAND_ROWS if c)


@pytest.mark.parametrize("case, message", [
    (lambda: kuairand_text(head=KUAIRAND_HEAD.replace("is_click", "clicked")), "missing column(s) is_click"),
    (lambda: kuairand_text([(70, 900, 1000, 2, 0, 0, 1)]), "line 2: is_click must be 0 or 1, got 2"),
    (lambda: kuairand_text([(70, 900, "soon", 1, 0, 0, 1)]), "line 2: 'soon' is not a number"),
    (lambda: kuairand_text([(70, 900, 1000, 0, 0, 0, 1)]), "no clicked impression"),
    (lambda: kuairand_text()[:-12], "fields, expected 8"),
])
def test_kuairand_bad_logs_name_the_file(tmp_path, case, message):
    (tmp_path / "log.tsv").write_text(case())
    with pytest.raises(DataError, match=message.replace("(", r"\(").replace(")", r"\)")) as err:
        prepare("kuairand", tmp_path / "log.tsv", "k", tmp_path / "root")
    assert "log.tsv" in str(err.value) or "no clicked" in message
    assert not (tmp_path / "root" / "k").exists()


def test_kuairand_folder_with_two_logs_is_refused(tmp_path):
    (tmp_path / "a.tsv").write_text(kuairand_text())
    (tmp_path / "b.csv.gz").write_bytes(gzip.compress(kuairand_text(sep=",").encode()))
    with pytest.raises(DataError, match=r"exactly one log file .*a.tsv.*b.csv.gz"):
        prepare("kuairand", tmp_path, "k", tmp_path / "root")


def write_microvideo(folder, test_rows=None):
    folder.mkdir(parents=True, exist_ok=True)
    head = "user_id,item_id,cate_id,is_click,timestamp\n"
    train = [(0, 1, 7, 1, 100), (0, 2, 8, 0, 110), (1, 1, 7, 0, 105), (1, 3, 7, 1, 120)]
    test = test_rows or [(0, 3, 7, 1, 200), (1, 4, 9, 0, 210)]
    (folder / "train_data.csv").write_text(head + "".join(",".join(map(str, r)) + "\n" for r in train))
    (folder / "test_data.csv").write_text(head + "".join(",".join(map(str, r)) + "\n" for r in test))
    return train, test


def test_microvideo_fixed_split_categories_and_features(tmp_path):
    train, test = write_microvideo(tmp_path / "mv")
    feat = np.arange(6 * 4, dtype=np.float32).reshape(6, 4)  # 6 rows: item 5 is never shown, still an item
    np.save(tmp_path / "cover.npy", feat)
    prepare("microvideo", tmp_path / "mv", "mv", tmp_path / "root", features={"visual": str(tmp_path / "cover.npy")})
    ds = load_dataset("mv", tmp_path / "root")
    imp = ds.impressions
    assert ds.n_items == 6 and np.array_equal(ds.features["visual"], feat)
    got = sorted(zip(imp["user"], imp["item"], imp["timestamp"], imp["click"], imp["split"]))
    assert got == sorted([(u, i, t, c, 0) for u, i, _, c, t in train] + [(u, i, t, c, 2) for u, i, _, c, t in test])
    assert ds.categories["cate"].tolist() == [-1, 7, 8, 7, 9, -1]
    assert sorted(zip(ds.user, ds.item)) == [(0, 1), (0, 3), (1, 3)]


def test_microvideo_item_with_two_categories_is_refused(tmp_path):
    write_microvideo(tmp_path / "mv", test_rows=[(0, 1, 9, 1, 200)])
    with pytest.raises(DataError, match=r"item 1 has two cate_id values"):
        prepare("microvideo", tmp_path / "mv", "mv", tmp_path / "root")


def test_movielens_ratings_are_impressions_clicked_from_the_threshold(tmp_path):
    write_ml_latest(tmp_path / "ml", "")
    prepare("movielens", tmp_path / "ml", "a", tmp_path / "root", text_encoder="tfidf")
    prepare("movielens", tmp_path / "ml", "b", tmp_path / "root", text_encoder="tfidf", click_threshold=2.5)
    a, b = load_dataset("a", tmp_path / "root"), load_dataset("b", tmp_path / "root")
    key = a.impressions["user"] * a.n_items + a.impressions["item"]
    assert np.array_equal(np.sort(key), np.sort(a.user * a.n_items + a.item))  # every rating, once
    rating = {(u, i): r for u, i, r in zip(a.user, a.item, a.rating)}
    expected = [rating[u, i] >= 4 for u, i in zip(a.impressions["user"], a.impressions["item"])]
    assert a.impressions["click"].tolist() == [int(e) for e in expected] and 0 < sum(expected) < len(expected)
    assert b.impressions["click"].sum() > a.impressions["click"].sum() and b.source["click_threshold"] == 2.5
    with pytest.raises(DataError, match="--click-threshold applies to the movielens format only"):
        prepare("kuairand", tmp_path / "ml", "c", tmp_path / "root", click_threshold=3)
