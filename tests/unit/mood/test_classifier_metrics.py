"""The F1 arithmetic of emotion reports, against counts made by hand."""

from __future__ import annotations

import pytest

from companion.mood.classifier_metrics import score
from companion.mood.emotions import Emotion

J, S, U, F, A, N = (
    Emotion.JOY,
    Emotion.SADNESS,
    Emotion.SURPRISE,
    Emotion.FEAR,
    Emotion.ANGER,
    Emotion.NONE,
)

# (gold, predicted) for eight messages.
FIXTURE: list[tuple[set[Emotion], set[Emotion]]] = [
    ({S}, {S}),  # 1: sadness hit
    ({S, A}, {A}),  # 2: anger hit, sadness missed
    ({F}, {S}),  # 3: fear missed, sadness false
    (set(), {A}),  # 4: anger false (gold none)
    ({J}, {J}),  # 5: joy hit
    ({U}, set()),  # 6: surprise missed, none false
    (set(), {N}),  # 7: none hit ({NONE} is the same as {})
    ({A}, {J}),  # 8: anger missed, joy false
]


def test_negative_f1_binary_per_message() -> None:
    result = score([frozenset(g) for g, _ in FIXTURE], [frozenset(p) for _, p in FIXTURE])
    # Gold negative: 1, 2, 3, 8. Predicted negative: 1, 2, 3, 4.
    # TP = 1, 2, 3 (3); FP = 4 (1); FN = 8 (1).  F1 = 6 / (6 + 1 + 1) = 0.75
    counts = result.negative_binary
    assert (counts.tp, counts.fp, counts.fn) == (3, 1, 1)
    assert counts.f1 == pytest.approx(0.75)


def test_negative_f1_micro_over_the_three_labels() -> None:
    result = score([frozenset(g) for g, _ in FIXTURE], [frozenset(p) for _, p in FIXTURE])
    # sadness: TP 1 (msg 1), FP 1 (msg 3), FN 1 (msg 2)
    # fear:    TP 0,         FP 0,         FN 1 (msg 3)
    # anger:   TP 1 (msg 2), FP 1 (msg 4), FN 1 (msg 8)
    # sum: TP 2, FP 2, FN 3 -> F1 = 4 / (4 + 2 + 3) = 4/9
    counts = result.negative_micro
    assert (counts.tp, counts.fp, counts.fn) == (2, 2, 3)
    assert counts.f1 == pytest.approx(4 / 9)
    assert counts.precision == pytest.approx(0.5)
    assert counts.recall == pytest.approx(0.4)


def test_per_label_f1_including_none() -> None:
    result = score([frozenset(g) for g, _ in FIXTURE], [frozenset(p) for _, p in FIXTURE])
    assert result.f1(S) == pytest.approx(0.5)  # TP 1, FP 1 (msg 3), FN 1 (msg 2)
    assert result.f1(F) == 0.0  # never predicted, one gold
    assert result.f1(A) == pytest.approx(0.5)  # TP 1 (msg 2), FP 1 (msg 4), FN 1 (msg 8)
    assert result.f1(J) == pytest.approx(2 / 3)  # TP 1, FP 1 (msg 8)
    assert result.f1(U) == 0.0
    # none: gold 4 and 7; predicted 6 and 7 -> TP 1, FP 1, FN 1
    assert result.f1(N) == pytest.approx(0.5)
    assert result.macro_f1 == pytest.approx((0.5 + 0 + 0.5 + 2 / 3 + 0) / 5)
    # micro over five labels: TP 3 (S1, A2, J5), FP 3 (S3, A4, J8), FN 4 (S2, F3, U6, A8)
    micro = result.micro
    assert (micro.tp, micro.fp, micro.fn) == (3, 3, 4)


def test_lengths_must_match() -> None:
    with pytest.raises(ValueError, match="2 gold rows but 1 predictions"):
        score([frozenset(), frozenset()], [frozenset()])
