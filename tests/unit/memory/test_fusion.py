"""Score fusion: every signal on a 0..1 scale whatever the model, neighbours, feedback."""

from __future__ import annotations

import numpy as np

from companion.memory.fusion import (
    minmax,
    rocchio,
    rrf,
    share_of_best,
    share_of_ideal,
    smooth_with_neighbours,
    standardize,
    superseded,
)


def test_minmax_maps_the_candidates_onto_0_to_1_whatever_the_spread() -> None:
    # E5-like cosines squeezed into 0.80..0.84 and MiniLM-like ones over 0.1..0.5 give the
    # same fused scale: the ordering survives, the spread does not decide the weight.
    squeezed = np.array([0.80, 0.84, 0.82, 0.70])
    spread = np.array([0.1, 0.5, 0.3, -0.2])
    over = np.array([0, 1, 2])
    assert np.allclose(minmax(squeezed, over), [0.0, 1.0, 0.5, 0.0])
    assert np.allclose(minmax(spread, over), [0.0, 1.0, 0.5, 0.0])
    assert not minmax(np.array([0.3, 0.3]), np.array([0, 1])).any()  # flat: tells nothing
    assert minmax(np.array([0.3]), np.array([], dtype=np.int64)).tolist() == [0.0]


def test_bm25_scales_by_best_or_by_ideal() -> None:
    scores = np.array([0.0, 2.0, 4.0])
    assert share_of_best(scores).tolist() == [0.0, 0.5, 1.0]
    assert not share_of_best(np.zeros(3)).any()
    # By the ideal (a document holding every query term), a weak best match stays weak.
    assert share_of_ideal(scores, 8.0).tolist() == [0.0, 0.25, 0.5]
    assert share_of_ideal(np.array([12.0]), 8.0).tolist() == [1.0]
    assert not share_of_ideal(scores, 0.0).any()


def test_rrf_sums_weighted_reciprocal_ranks() -> None:
    fused = rrf([([2, 0], 1.0), ([0], 0.5)], size=4, k=60.0)
    assert fused[0] == 1.0 / 62 + 0.5 / 61
    assert fused[2] == 1.0 / 61
    assert fused[1] == fused[3] == 0.0


def test_neighbours_lend_part_of_their_score() -> None:
    scores = np.array([0.0, 1.0, 0.2, 0.0])
    previous = np.array([-1, 0, 1, -1])  # rows 0-1-2 are one conversation, row 3 alone
    following = np.array([1, 2, -1, -1])
    smoothed = smooth_with_neighbours(scores, previous, following, 0.5)
    assert smoothed.tolist() == [0.5, 1.1, 0.7, 0.0]
    assert smooth_with_neighbours(scores, previous, following, 0.0) is scores


def test_rocchio_moves_the_query_towards_the_feedback() -> None:
    query = np.array([1.0, 0.0, 0.0], dtype=np.float32)
    found = np.array([[0.0, 1.0, 0.0]], dtype=np.float32)
    moved = rocchio(query, found, 1.0)
    assert np.isclose(np.linalg.norm(moved), 1.0)
    assert np.isclose(moved[0], moved[1]) and moved[2] == 0.0
    assert rocchio(query, found, 0.0) is query
    assert rocchio(query, found[:0], 1.0) is query


def test_an_older_candidate_is_superseded_by_a_newer_one_about_the_same_thing() -> None:
    # Rows 0 and 1: "I live in Kazan" (January), "we moved to Tver" (May), close in meaning;
    # rows 2-4 about other things. Only the older of the close pair is superseded, and only
    # when the newer one is comparably relevant and said in another conversation.
    vectors = np.array(
        [[1.0, 0.1, 0, 0], [0.95, 0.2, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]],
        dtype=np.float32,
    )
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    day = 86400.0
    times = np.array([0.0, 120 * day, 5 * day, 6 * day, 7 * day])
    relevance = np.array([0.9, 0.8, 0.3, 0.2, 0.1])
    assert superseded(vectors, times, relevance, 0.9, day).tolist() == [1, 0, 0, 0, 0]
    # The newer one is far less relevant: no evidence that it is the same matter.
    weak = np.array([0.9, 0.3, 0.3, 0.2, 0.1])
    assert not superseded(vectors, times, weak, 0.9, day).any()
    # Said minutes apart (the same conversation going on): both stay.
    close_in_time = np.array([0.0, 600.0, 5 * day, 6 * day, 7 * day])
    assert not superseded(vectors, close_in_time, relevance, 0.9, day).any()
    assert not superseded(vectors[:2], times[:2], relevance[:2], 0.9).any()  # too few to tell


def test_standardize_gives_z_scores_over_the_live_rows() -> None:
    values = np.array([1.0, 2.0, 3.0, 100.0])
    live = np.array([True, True, True, False])
    z = standardize(values, live)
    assert np.allclose(z[:3], [-1.2247449, 0.0, 1.2247449])
    assert z[3] > 50  # a removed row is scaled, not counted
    assert not standardize(np.ones(3), np.ones(3, dtype=np.bool_)).any()
    assert not standardize(values, np.zeros(4, dtype=np.bool_)).any()
