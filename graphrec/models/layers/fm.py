"""Factorization machine (Rendle, ICDM 2010), the preference predictor of Multimodal IRIS (its eq. 11–12).

ŷ(x) = w₀ + Σ_n w_n x_n + Σ_{n<m} ⟨v_n, v_m⟩ x_n x_m, whose pairwise part is computed in O(kn) as
½ (‖Σ_n x_n v_n‖² − Σ_n ‖x_n v_n‖²) (Rendle's Lemma 3.1). Here the inputs are already the scaled factors
x_n v_n, one row per active feature or field.
"""

from __future__ import annotations

import torch


def fm_pairwise(factors: torch.Tensor) -> torch.Tensor:
    """Σ_{n<m} ⟨f_n, f_m⟩ over the rows of ``factors`` [..., n, k] (each row x_n v_n): shape [...]."""
    total = factors.sum(-2)
    return 0.5 * (total.pow(2).sum(-1) - factors.pow(2).sum((-2, -1)))
