"""Property: any bytes in an ``.inter`` file, a MovieLens ratings CSV or a feature ``.npy`` either import to a
valid dataset or fail with the project's DataError — never another exception, never a half-written dataset."""

import io
import tempfile
from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from graphrec.cli.data import prepare
from graphrec.data.storage import load_dataset
from graphrec.errors import DataError
from tests.test_bad_input import leftovers
from tests.test_importers import write_ml_latest

FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

ODD_TOKENS = st.sampled_from(
    ["", "1.5", "12.7", "3.0", "1e3", "-0", "-1", "nan", "inf", "-inf", "abc", "0x10", "１", "99999999999999999999",
     "9007199254740993", " 4 ", "1_0", "\x00", "é"])
# mostly plausible ids, labels and times, so that many examples import and the rest fail deep inside
TOKENS = st.integers(0, 19).flatmap(lambda r: st.integers(0, 2 if r < 8 else 30).map(str) if r < 17 else ODD_TOKENS)
COLUMNS = ["userID", "itemID", "x_label", "rating", "timestamp", "user_id", "junk"]


@st.composite
def delimited(draw, header: list[str], sep: str) -> bytes:
    """A header (sometimes shuffled or cut) and rows of tokens, sometimes ragged, CRLF or LF; or raw bytes."""
    if draw(st.integers(0, 5)) == 0:
        return draw(st.binary(max_size=300))
    head = draw(st.permutations(header)) if draw(st.booleans()) else header
    head = head[: draw(st.integers(1, len(head)))] if draw(st.integers(0, 4)) == 0 else head
    n_rows = draw(st.integers(0, 12))
    rows = [[draw(TOKENS) for _ in range(len(head) if draw(st.integers(0, 19)) else draw(st.integers(0, 6)))]
            for _ in range(n_rows)]
    eol = draw(st.sampled_from(["\n", "\r\n"]))
    return eol.join(sep.join(r) for r in [head, *rows]).encode("utf-8") + draw(st.sampled_from([b"", eol.encode()]))


def check_outcome(fmt: str, source: Path, root: Path) -> None:
    try:
        prepare(fmt, source, "fz", root, **({"text_encoder": "tfidf"} if fmt == "movielens" else {}))
    except DataError:
        assert leftovers(root) == []  # nothing half-written
        return
    ds = load_dataset("fz", root)  # a valid dataset: loads, ids in range, finite features
    assert ds.n_interactions > 0 and ds.user.max() < ds.n_users and ds.item.max() < ds.n_items
    assert all(np.isfinite(f).all() and f.dtype == np.float32 for f in ds.features.values())
    assert leftovers(root) == ["fz"]


@FUZZ
@given(delimited(["userID", "itemID", "rating", "timestamp", "x_label"], "\t"), st.sampled_from(COLUMNS))
def test_any_inter_file(content, extra_column):
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "src"
        src.mkdir()
        (src / "x.inter").write_bytes(content)
        check_outcome("mmrec", src, Path(tmp) / "root")


@FUZZ
@given(delimited(["userId", "movieId", "rating", "timestamp"], ","))
def test_any_ratings_csv(content):
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "ml"
        write_ml_latest(src, "1,2,funny,1\n")
        (src / "ratings.csv").write_bytes(content)
        check_outcome("movielens", src, Path(tmp) / "root")


def filled(dtype: str, shape: tuple, value: float) -> np.ndarray:
    if dtype == "bool":
        return np.ones(shape, bool)
    with np.errstate(invalid="ignore", over="ignore"):
        return np.full(shape, value).astype(dtype)


def npy_bytes(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, array, allow_pickle=True)
    return buf.getvalue()


ARRAYS = st.one_of(
    st.tuples(st.sampled_from(["float32", "float64", "int64", "bool", "complex64", "float16", "uint8"]),
              st.sampled_from([(3, 4), (3,), (2, 4), (3, 0), (3, 2, 2), (4, 4)]),
              st.sampled_from([0.0, 1.5, np.nan, np.inf, -1e39])).map(lambda t: npy_bytes(filled(*t))),
    st.just(npy_bytes(np.array([[{"a": 1}]] * 3, dtype=object))),  # a pickled payload
    st.just(npy_bytes(np.zeros(3, dtype=[("a", "f4"), ("b", "i4")]))),  # structured
)


@FUZZ
@given(st.one_of(ARRAYS, ARRAYS.flatmap(lambda b: st.integers(0, len(b)).map(lambda n: b[:n])),
                 ARRAYS.flatmap(lambda b: st.tuples(st.integers(0, len(b) - 1), st.integers(1, 255)).map(
                     lambda t: b[:t[0]] + bytes([b[t[0]] ^ t[1]]) + b[t[0] + 1:])),
                 st.binary(max_size=200)))
def test_any_feature_npy(content):
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "src"
        src.mkdir()
        (src / "x.inter").write_text("userID\titemID\tx_label\n0\t1\t0\n1\t2\t1\n1\t0\t2\n2\t1\t0\n")
        (src / "image_feat.npy").write_bytes(content)
        check_outcome("mmrec", src, Path(tmp) / "root")
