"""The emotion labels (CEDR's), one reading per message, and the reader port that produces them.

CEDR labels a sentence with any of joy, sadness, surprise, fear, anger, or none of them; the
negative ones are what the persona's care and the owner's reports watch.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol


class Emotion(StrEnum):
    JOY = "joy"
    SADNESS = "sadness"
    SURPRISE = "surprise"
    FEAR = "fear"
    ANGER = "anger"
    NONE = "none"


NEGATIVE: frozenset[Emotion] = frozenset({Emotion.SADNESS, Emotion.FEAR, Emotion.ANGER})


@dataclass(frozen=True, slots=True)
class EmotionReading:
    """The labels a message carries ({NONE} when no emotion), with each label's probability."""

    labels: frozenset[Emotion]
    scores: dict[Emotion, float] = field(default_factory=dict)

    @property
    def negative(self) -> bool:
        return bool(self.labels & NEGATIVE)


class EmotionReader(Protocol):
    """Reads emotions of texts (Russian or English), on CPU, offline; synchronous and CPU-bound,
    so async callers run it in a worker thread, off the reply's critical path."""

    def read(self, texts: Sequence[str]) -> list[EmotionReading]: ...
