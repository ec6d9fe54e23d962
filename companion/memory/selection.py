"""Choosing among scored rows and texts: top rows, maximal marginal relevance, a token budget."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np
import numpy.typing as npt


def top_rows(scores: npt.NDArray[np.floating], limit: int, *, positive_only: bool) -> list[int]:
    """Row numbers of the `limit` highest finite scores, best first."""
    valid = scores > 0 if positive_only else np.isfinite(scores)
    count = int(valid.sum())
    if count == 0:
        return []
    limit = min(limit, count)
    candidates = np.where(valid, scores, -np.inf)
    if limit < candidates.shape[0]:
        part = np.argpartition(-candidates, limit - 1)[:limit]
    else:
        part = np.arange(candidates.shape[0])
    ordered = part[np.argsort(-candidates[part], kind="stable")]
    return [int(row) for row in ordered[:limit]]


def mmr(
    matrix: npt.NDArray[np.float32],
    rows: npt.NDArray[np.int64],
    scores: npt.NDArray[np.float64],
    k: int,
    lam: float,
) -> list[tuple[int, float]]:
    """Maximal marginal relevance over the candidate rows; returns (row, score) in pick order."""
    order = np.argsort(-scores, kind="stable")
    rows, scores = rows[order], scores[order]
    k = min(k, len(rows))
    if lam >= 1.0 or k <= 1:
        return [(int(rows[i]), float(scores[i])) for i in range(k)]
    # Relevance rescaled to 0..1 over the candidates, so the trade-off with similarity
    # (also 0..1) means the same whatever the fusion's score scale.
    spread = float(scores[0] - scores[-1])
    relevance = (scores - scores[-1]) / spread if spread > 0 else np.ones_like(scores)
    vectors = matrix[rows]
    similarity = vectors @ vectors.T
    picked: list[int] = []
    max_sim = np.full(len(rows), -np.inf)
    available = np.ones(len(rows), dtype=np.bool_)
    for _ in range(k):
        penalty = np.where(np.isfinite(max_sim), max_sim, 0.0)
        value = lam * relevance - (1.0 - lam) * penalty
        value[~available] = -np.inf
        best = int(np.argmax(value))
        picked.append(best)
        available[best] = False
        max_sim = np.maximum(max_sim, similarity[best])
    return [(int(rows[i]), float(scores[i])) for i in picked]


def fit_to_budget(
    texts: Sequence[str], budget_tokens: int, count_tokens: Callable[[str], int]
) -> list[str]:
    """The texts, in order, that fit in `budget_tokens` (a text that does not fit is skipped)."""
    chosen: list[str] = []
    used = 0
    for text in texts:
        cost = count_tokens(text)
        if used + cost <= budget_tokens:
            chosen.append(text)
            used += cost
    return chosen


def approximate_tokens(text: str) -> int:
    """A tokenizer-free estimate (about 4 characters per token, at least one per word)."""
    return max(len(text.split()), math.ceil(len(text) / 4))
