"""MovieLens: ML-100K (``u.data``, ``u.item``), ML-1M (``ratings.dat``, ``movies.dat``) and ml-latest
(``ratings.csv``, ``movies.csv``, ``tags.csv``).

Every rating is one implicit interaction (the rating is kept). Raw ids are mapped to 0..n-1 in ascending
order; items are all movies of the movie file (plus any rated movie missing from it). Kept as side info:
timestamps, titles (``extra.title``), genres as a multi-hot matrix (``extra.genres`` with
``extra.genre_names``) and, for ml-latest, free-text tags (``tag.item``/``tag.tag`` with ``extra.tag_names``, and
who attached each and when: ``tag.user`` — the user's index, −1 for a user without ratings — and
``tag.timestamp``).

Genres also give two nested classes per movie (``category.primary`` / ``category.secondary``, names in
``extra.primary_names`` / ``extra.secondary_names``), for topic learning (MTL's primary / secondary classes).
MovieLens lists genres alphabetically, so the order says nothing; instead the primary class is the movie's
genre most frequent in the catalogue (the coarse reading: Drama, Comedy, ...) and the secondary class the
pair (primary, the movie's next most frequent genre), or the primary alone for a single-genre movie: a finer
class nested in the primary one. A movie without genres has neither (−1).

Every rating is also an impression (``impression.*``) for click-through tasks, clicked when the rating is at
least ``click_threshold`` (default 4: "liked"), so a rated-but-disliked movie is a non-click.

Two item modalities are derived from that metadata (A²BM²GL builds its MovieLens features from movie
metadata): ``genre``, the multi-hot genre vector, and ``textual``, an embedding of "title. genres" by
``graphrec.data.text_features`` (all-MiniLM-L6-v2 when the optional ``text`` extra is installed, else
TF-IDF + truncated SVD to 64 dimensions; ``text_encoder`` chooses, and ``source.text_encoder`` in
``meta.json`` records which was used).

ml-latest's free-text tags are kept as side info but stay out of ``textual``: users attach them while rating, so
tags of held-out interactions would leak into the features of every split. A tag-based modality has to be
derived from the training split at training time.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from graphrec.data.dataset import Dataset
from graphrec.data.formats.legacy_io import numeric_column, read_csv, read_table
from graphrec.data.text_features import encode_texts
from graphrec.errors import DataError

ML100K_GENRES = ["unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime", "Documentary",
                 "Drama", "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery", "Romance", "Sci-Fi", "Thriller",
                 "War", "Western"]


def _multi_hot(genre_lists: list[list[str]]) -> tuple[np.ndarray, np.ndarray]:
    names = sorted({g for gl in genre_lists for g in gl})
    index = {g: i for i, g in enumerate(names)}
    out = np.zeros((len(genre_lists), len(names)), dtype=np.int8)
    for row, gl in enumerate(genre_lists):
        out[row, [index[g] for g in gl]] = 1
    return out, np.array(names)


def _ratings_and_movies(source: Path):
    if (source / "u.data").is_file():
        path = source / "u.data"
        _, rows = read_table(path, "\t", n_cols=4)
        cols = [numeric_column(rows, c, path) for c in range(4)]
        item_path = source / "u.item"
        _, movies = read_table(item_path, "|", n_cols=24, encoding="latin-1")
        movie_ids = numeric_column(movies, 0, item_path)
        titles = [m[1] for m in movies]
        genres = [[ML100K_GENRES[g] for g in range(19) if m[5 + g] == "1"] for m in movies]
        return "ml-100k", cols, movie_ids, titles, genres, None
    if (source / "ratings.dat").is_file():
        path = source / "ratings.dat"
        _, rows = read_table(path, "::", n_cols=4, encoding="latin-1")
        cols = [numeric_column(rows, c, path) for c in range(4)]
        item_path = source / "movies.dat"
        _, movies = read_table(item_path, "::", n_cols=3, encoding="latin-1")
        return "ml-1m", cols, numeric_column(movies, 0, item_path), [m[1] for m in movies], \
            [m[2].split("|") for m in movies], None
    if (source / "ratings.csv").is_file():
        path = source / "ratings.csv"
        head, rows = read_csv(path)
        idx = [head.index(c) if c in head else None for c in ("userId", "movieId", "rating", "timestamp")]
        if None in idx:
            raise DataError(f"{path}: expected columns userId, movieId, rating, timestamp (found {head})")
        cols = [numeric_column(rows, c, path, np.float64 if c == idx[2] else np.int64, 2) for c in idx]
        mhead, movies = read_csv(source / "movies.csv")
        ids = numeric_column(movies, mhead.index("movieId"), source / "movies.csv", first_line=2)
        genres = [[] if m[mhead.index("genres")] == "(no genres listed)" else m[mhead.index("genres")].split("|")
                  for m in movies]
        tags = read_csv(source / "tags.csv") if (source / "tags.csv").is_file() else None
        return "ml-latest", cols, ids, [m[mhead.index("title")] for m in movies], genres, tags
    raise DataError(f"{source}: no MovieLens ratings file (u.data, ratings.dat or ratings.csv)")


def genre_classes(multi_hot: np.ndarray, names: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(primary, secondary, primary names, secondary names) from a multi-hot genre matrix (module doc)."""
    frequency = multi_hot.sum(0)
    rank = np.argsort(np.argsort(-frequency, kind="stable"), kind="stable")  # 0 = most frequent genre
    keyed = np.where(multi_hot > 0, rank[None, :], names.size)  # a genre's rank where the movie has it
    ordered = np.sort(keyed, 1)
    by_rank = np.argsort(rank)
    first, second = ordered[:, 0], ordered[:, 1] if names.size > 1 else np.full(len(multi_hot), names.size)
    has = first < names.size
    primary = np.where(has, first, -1)
    pair = np.where(has, first * (names.size + 1) + second, -1)
    pairs, secondary = np.unique(pair[has], return_inverse=True)
    sec = np.full(len(multi_hot), -1, dtype=np.int64)
    sec[has] = secondary
    prim_ids, prim = np.unique(primary[has], return_inverse=True)
    pri = np.full(len(multi_hot), -1, dtype=np.int64)
    pri[has] = prim
    label = lambda r: str(names[by_rank[r]]) if r < names.size else ""
    pair_names = np.array(["/".join(x for x in (label(p // (names.size + 1)), label(p % (names.size + 1))) if x)
                           for p in pairs])
    return pri, sec, np.array([label(r) for r in prim_ids]), pair_names


def _item_texts(titles: np.ndarray, genre_lists: list[list[str]]) -> list[str]:
    """ "title. genres" per item (no tags: see the module docstring)."""
    return [". ".join(part for part in (str(t), " ".join(g)) if part) for t, g in zip(titles, genre_lists)]


def load(source: Path, name: str, features: dict[str, str] | None = None, text_encoder: str = "auto",
         click_threshold: float = 4.0) -> Dataset:
    variant, (raw_user, raw_item, rating, timestamp), movie_ids, titles, genres, tags = _ratings_and_movies(source)
    if raw_user.size == 0:
        raise DataError(f"{source}: no ratings")
    user_ids, user = np.unique(raw_user, return_inverse=True)
    item_ids = np.unique(np.concatenate([movie_ids, raw_item]))
    item = np.searchsorted(item_ids, raw_item)
    movie_row = {int(m): r for r, m in enumerate(movie_ids)}
    order = [movie_row.get(int(i)) for i in item_ids]
    genre_lists = [genres[r] if r is not None else [] for r in order]
    multi_hot, genre_names = _multi_hot(genre_lists)
    primary, secondary, primary_names, secondary_names = genre_classes(multi_hot, genre_names)
    extras = {"title": np.array([titles[r] if r is not None else "" for r in order]),
              "genres": multi_hot, "genre_names": genre_names, "primary_names": primary_names,
              "secondary_names": secondary_names}
    tag_group = {}
    if tags is not None:
        head, rows = tags
        t_items = numeric_column(rows, head.index("movieId"), source / "tags.csv", first_line=2)
        t_users = numeric_column(rows, head.index("userId"), source / "tags.csv", first_line=2)
        t_times = numeric_column(rows, head.index("timestamp"), source / "tags.csv", first_line=2)
        t_text = [r[head.index("tag")].strip().lower() for r in rows]
        names, t_ids = np.unique(np.array(t_text), return_inverse=True)
        known = np.isin(t_items, item_ids)
        rated = np.isin(t_users, user_ids)
        tag_group = {"item": np.searchsorted(item_ids, t_items[known]), "tag": t_ids[known].astype(np.int64),
                     "user": np.where(rated, np.searchsorted(user_ids, t_users), -1)[known].astype(np.int64),
                     "timestamp": t_times[known].astype(np.int64)}
        extras["tag_names"] = names
    impressions = {"user": user.astype(np.int64), "item": item.astype(np.int64), "timestamp": timestamp,
                   "click": (rating >= click_threshold).astype(np.int8)}
    texts = _item_texts(extras["title"], genre_lists)
    textual, encoder = encode_texts(texts, text_encoder)
    return Dataset(name=name, n_users=int(user_ids.size), n_items=int(item_ids.size), user=user.astype(np.int64),
                   item=item.astype(np.int64), rating=rating.astype(np.float32), timestamp=timestamp,
                   tags=tag_group, extras=extras, categories={"primary": primary, "secondary": secondary}, impressions=impressions, features={"genre": multi_hot.astype(np.float32), "textual": textual},
                   raw={"user_id": user_ids.astype(str), "item_id": item_ids.astype(str)},
                   probability_modalities=["genre"],  # a membership vector: IRIS' filtered features (eq. 5–10)
                   source={"format": "movielens", "variant": variant, "path": str(source), "text_encoder": encoder,
                           "click_threshold": float(click_threshold)})
