"""Score fusion for the retriever: pure numpy functions over one user's rows.

Why normalised fusion: a model's cosines are spread differently per model and per query
(MiniLM spreads 0.0-0.7, E5 squeezes everything into 0.75-0.9), and BM25 scores have no upper
bound. Adding raw cosines to a small multiple of BM25 lets whichever signal is spread widest
decide the ranking. Here each signal is first mapped onto 0..1 over the query's candidates
(min-max for cosine, share of the best score for BM25), then mixed with weights that mean the
same whatever the model: BM25 is a first-class signal, not a prior.

Reciprocal rank fusion (`rrf`) is kept as an alternative: it ignores the score spread entirely.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from companion.memory.retriever_config import RetrieverConfig

Floats = npt.NDArray[np.float64]
Rows = npt.NDArray[np.int64]


def minmax(values: npt.NDArray[np.floating], over: Rows) -> Floats:
    """`values` rescaled so the rows `over` span 0..1 (every row is rescaled, then clipped).

    A flat candidate set (all equal) maps to zeros: that signal tells nothing for this query.
    """
    scores = np.asarray(values, dtype=np.float64)
    if over.size == 0:
        return np.zeros_like(scores)
    low, high = float(scores[over].min()), float(scores[over].max())
    if high <= low:
        return np.zeros_like(scores)
    return np.clip((scores - low) / (high - low), 0.0, 1.0)


def standardize(values: npt.NDArray[np.floating], over: npt.NDArray[np.bool_]) -> Floats:
    """z-scores against the rows `over` (mean 0, standard deviation 1); constant: zeros."""
    scores = np.asarray(values, dtype=np.float64)
    if not over.any():
        return np.zeros_like(scores)
    sample = scores[over]
    spread = float(sample.std())
    if spread == 0.0:
        return np.zeros_like(scores)
    return (scores - float(sample.mean())) / spread


def share_of_best(values: npt.NDArray[np.floating]) -> Floats:
    """Non-negative scores (BM25) divided by the best one: the best match is 1, no match 0."""
    scores = np.asarray(values, dtype=np.float64)
    best = float(scores.max()) if scores.size else 0.0
    return scores / best if best > 0 else np.zeros_like(scores)


def share_of_ideal(values: npt.NDArray[np.floating], ideal: float) -> Floats:
    """BM25 scores divided by what a document holding every query term would score
    (`BM25Index.ideal`), capped at 1: a match on one common word of the question stays low."""
    scores = np.asarray(values, dtype=np.float64)
    if ideal <= 0:
        return np.zeros_like(scores)
    return np.clip(scores / ideal, 0.0, 1.0)


def rrf(rankings: list[tuple[list[int], float]], size: int, k: float = 60.0) -> Floats:
    """Weighted reciprocal rank fusion: sum of weight / (k + rank) over the rankings given as
    (rows best first, weight); rows in no ranking score 0."""
    scores = np.zeros(size, dtype=np.float64)
    for order, weight in rankings:
        if order:
            ranks = np.arange(1, len(order) + 1, dtype=np.float64)
            scores[np.asarray(order, dtype=np.int64)] += weight / (k + ranks)
    return scores


def smooth_with_neighbours(
    scores: Floats, previous: Rows, following: Rows, weight: float
) -> Floats:
    """Each row's score plus `weight` times the better of its two neighbours' scores.

    Neighbours are the exchanges just before and after in the same conversation (-1: none).
    A statement is often split over two messages ("we adopted a puppy" ... "his name is
    Biscuit"), and a conversation about the topic makes each of its exchanges more likely to
    be the one asked about; the neighbours' relevance lends a little to the row.
    """
    if weight == 0.0 or scores.size == 0:
        return scores
    padded = np.append(scores, 0.0)  # index -1 (no neighbour) reads the appended 0
    best: Floats = np.maximum(padded[previous], padded[following])
    return scores + weight * best


def rocchio(
    query: npt.NDArray[np.float32],
    feedback: npt.NDArray[np.float32],
    weight: float,
) -> npt.NDArray[np.float32]:
    """The query vector moved towards the mean of the feedback vectors (pseudo-relevance
    feedback), normalised again. A question about two things ("how many days between the
    concert and the trip?") finds one of them first; the second pass looks for what is near
    both the question and what was found."""
    if weight == 0.0 or feedback.shape[0] == 0:
        return query
    moved = query + weight * feedback.mean(axis=0)
    norm = float(np.linalg.norm(moved))
    return (moved / norm).astype(np.float32) if norm > 0 else query


def superseded(
    vectors: npt.NDArray[np.float32],
    times: npt.NDArray[np.float64],
    relevance: Floats,
    quantile: float,
    min_gap_s: float = 0.0,
) -> Floats:
    """1.0 for each candidate that a newer, similar, comparably relevant candidate follows
    (said at least `min_gap_s` later: another conversation, not the same one going on).

    "Similar" is relative to the candidates themselves (their pairwise cosines above the
    `quantile`), so it means the same for a model whose cosines are compressed (E5) and one
    whose are spread (MiniLM).
    """
    count = vectors.shape[0]
    out = np.zeros(count, dtype=np.float64)
    if count < 3:
        return out
    similarity = vectors @ vectors.T
    upper = similarity[np.triu_indices(count, 1)]
    threshold = float(np.quantile(upper, quantile))
    close = similarity >= threshold
    np.fill_diagonal(close, False)
    newer = times[None, :] > times[:, None] + min_gap_s  # [i, j]: j was said after i
    relevant = relevance[None, :] >= 0.5 * relevance[:, None]
    out[(close & newer & relevant).any(axis=1)] = 1.0
    return out


def fuse(
    config: RetrieverConfig,
    dense: npt.NDArray[np.float32],
    dense_order: list[int],
    lexical: npt.NDArray[np.float32],
    lexical_order: list[int],
    lexical_signal: Floats | None,
    ideal: float | None,
    mask: npt.NDArray[np.bool_],
) -> Floats:
    """Relevance of every row (0 for rows in neither candidate list), by `config.fusion`.

    `lexical_signal`: BM25 already mapped onto 0..1 (the whole question's and its parts',
    `Retriever._lexical`), used by "normalized"; the other modes read the raw `lexical`.
    """
    size = dense.shape[0]
    if config.fusion == "rrf":
        return rrf(
            [(dense_order, config.dense_weight), (lexical_order, config.lexical_weight)],
            size,
            config.rrf_k,
        )
    candidates = np.asarray(sorted(set(dense_order) | set(lexical_order)), dtype=np.int64)
    if config.fusion == "adaptive":
        # BM25's say grows with how much of the question its best match covers (score /
        # ideal): a question sharing its rare words with a record is a keyword question,
        # a paraphrase (no shared rare words) is the embedder's.
        best = float(lexical.max()) if lexical.size else 0.0
        coverage = min(1.0, best / ideal) if ideal else 0.0
        lexical_weight = config.lexical_weight * coverage
        fused = (1.0 - lexical_weight) * minmax(dense, candidates) + lexical_weight * (
            share_of_best(lexical)
        )
    elif config.fusion == "zscore":
        # How far each row stands out from the user's other records, per signal: a
        # confident signal (one record far above the rest) weighs more for this query.
        fused = config.dense_weight * standardize(dense, mask) + config.lexical_weight * (
            standardize(lexical, mask)
        )
        fused = np.maximum(fused, 0.0) / 4.0
    else:
        if lexical_signal is None:
            lexical_signal = (
                share_of_best(lexical) if ideal is None else share_of_ideal(lexical, ideal)
            )
        fused = config.dense_weight * minmax(dense, candidates) + (
            config.lexical_weight * lexical_signal
        )
    outside = np.ones(size, dtype=np.bool_)
    outside[candidates] = False
    fused[outside] = 0.0
    return fused
