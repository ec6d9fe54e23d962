"""Quality of emotion readings against gold labels: per-label F1 and two negative F1s.

Definitions (docs/mood.md repeats them):

* per-label F1: for each of joy, sadness, surprise, fear, anger, and `none` (a message with
  no emotion label), F1 of "the label is in the reading" against "the label is in the gold".
* negative F1, binary: one decision per message, "carries at least one negative label
  (sadness, fear or anger)", F1 of that decision against the gold. This is what the mood
  trend uses (a message counts as negative or not).
* negative F1, micro: true/false positives and false negatives summed over the three negative
  labels (each message-label pair counts once), then F1.
* micro F1 over the five emotion labels and macro F1 (mean of the five) for completeness.

F1 with no predicted and no gold positives is 0 (sklearn's `zero_division=0`): an empty
label earns nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from companion.mood.classifier_data import LABELS
from companion.mood.emotions import NEGATIVE, Emotion

NONE_LABEL = Emotion.NONE
REPORTED: tuple[Emotion, ...] = (*LABELS, NONE_LABEL)


@dataclass(frozen=True, slots=True)
class Counts:
    tp: int = 0
    fp: int = 0
    fn: int = 0

    def __add__(self, other: Counts) -> Counts:
        return Counts(self.tp + other.tp, self.fp + other.fp, self.fn + other.fn)

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 0.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 0.0

    @property
    def f1(self) -> float:
        denominator = 2 * self.tp + self.fp + self.fn
        return 2 * self.tp / denominator if denominator else 0.0


def _count(pairs: Iterable[tuple[bool, bool]]) -> Counts:
    tp = fp = fn = 0
    for gold, predicted in pairs:
        tp += gold and predicted
        fp += predicted and not gold
        fn += gold and not predicted
    return Counts(tp, fp, fn)


def _with_none(labels: frozenset[Emotion]) -> frozenset[Emotion]:
    emotions = labels - {NONE_LABEL}
    return emotions if emotions else frozenset({NONE_LABEL})


@dataclass(frozen=True, slots=True)
class EmotionScores:
    """Counts behind every reported F1 (kept so a report can show support and precision)."""

    per_label: dict[Emotion, Counts]
    negative_binary: Counts
    support: int

    @property
    def negative_micro(self) -> Counts:
        total = Counts()
        for label in LABELS:
            if label in NEGATIVE:
                total = total + self.per_label[label]
        return total

    @property
    def micro(self) -> Counts:
        total = Counts()
        for label in LABELS:
            total = total + self.per_label[label]
        return total

    @property
    def macro_f1(self) -> float:
        return sum(self.per_label[label].f1 for label in LABELS) / len(LABELS)

    def f1(self, label: Emotion) -> float:
        return self.per_label[label].f1


def score(
    gold: Sequence[frozenset[Emotion]], predicted: Sequence[frozenset[Emotion]]
) -> EmotionScores:
    """Compare readings with gold label sets (the empty set and {NONE} both mean no emotion)."""
    if len(gold) != len(predicted):
        raise ValueError(f"{len(gold)} gold rows but {len(predicted)} predictions")
    gold_sets = [_with_none(labels) for labels in gold]
    predicted_sets = [_with_none(labels) for labels in predicted]
    per_label = {
        label: _count(
            (label in g, label in p) for g, p in zip(gold_sets, predicted_sets, strict=True)
        )
        for label in REPORTED
    }
    negative = _count(
        (bool(g & NEGATIVE), bool(p & NEGATIVE))
        for g, p in zip(gold_sets, predicted_sets, strict=True)
    )
    return EmotionScores(per_label=per_label, negative_binary=negative, support=len(gold))
