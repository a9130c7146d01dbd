"""Agreement between two labelings: normalised mutual information and the adjusted Rand index.

NMI = I(X; Y) / ((H(X) + H(Y)) / 2) (arithmetic normalisation); ARI = (RI − E[RI]) / (max RI − E[RI]),
both from the contingency table.
"""

from __future__ import annotations

import numpy as np


def _contingency(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    _, ai = np.unique(np.asarray(a), return_inverse=True)
    _, bi = np.unique(np.asarray(b), return_inverse=True)
    table = np.zeros((ai.max() + 1, bi.max() + 1), dtype=np.float64)
    np.add.at(table, (ai, bi), 1.0)
    return table


def nmi(a: np.ndarray, b: np.ndarray) -> float:
    table = _contingency(a, b)
    n = table.sum()
    pa, pb, pab = table.sum(1) / n, table.sum(0) / n, table / n
    nz = pab > 0
    mi = float((pab[nz] * np.log(pab[nz] / np.outer(pa, pb)[nz])).sum())
    ha = float(-(pa[pa > 0] * np.log(pa[pa > 0])).sum())
    hb = float(-(pb[pb > 0] * np.log(pb[pb > 0])).sum())
    if ha + hb == 0:
        return 1.0
    return 2.0 * mi / (ha + hb)


def ari(a: np.ndarray, b: np.ndarray) -> float:
    table = _contingency(a, b)
    comb = lambda x: x * (x - 1) / 2.0
    index = comb(table).sum()
    ra, rb, total = comb(table.sum(1)).sum(), comb(table.sum(0)).sum(), comb(table.sum())
    expected = ra * rb / total if total else 0.0
    maximum = (ra + rb) / 2.0
    return 1.0 if maximum == expected else float((index - expected) / (maximum - expected))
