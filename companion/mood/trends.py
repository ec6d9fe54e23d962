"""A person's mood by day, and whether it has been low for a while. Pure functions over
readings, so tests check them against hand-counted fixtures."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta

from companion.mood.emotions import Emotion
from companion.mood.store import StoredReading

POSITIVE: frozenset[Emotion] = frozenset({Emotion.JOY})


@dataclass(frozen=True, slots=True)
class DayMood:
    day: str  # ISO date
    messages: int = 0
    negative: int = 0
    positive: int = 0

    @property
    def score(self) -> float | None:
        """From -1 (every message negative) to +1 (every message joyful); None: no messages."""
        if not self.messages:
            return None
        return (self.positive - self.negative) / self.messages

    @property
    def is_negative(self) -> bool:
        """Half or more of the day's messages carried sadness, fear or anger."""
        return self.messages > 0 and 2 * self.negative >= self.messages


def day_range(last: date, days: int) -> list[str]:
    """`days` ISO dates ending with `last`, oldest first."""
    return [(last - timedelta(days=offset)).isoformat() for offset in range(days - 1, -1, -1)]


def daily_series(readings: Iterable[StoredReading], days: Sequence[str]) -> list[DayMood]:
    """One `DayMood` per day in `days` (days without readings are empty)."""
    counts = {day: [0, 0, 0] for day in days}
    for stored in readings:
        row = counts.get(stored.day)
        if row is None:
            continue
        row[0] += 1
        row[1] += stored.reading.negative
        row[2] += bool(stored.reading.labels & POSITIVE)
    return [DayMood(day, *counts[day]) for day in days]


def series_from_counts(
    counts: dict[str, tuple[int, int, int]], days: Sequence[str]
) -> list[DayMood]:
    """The same series from per-day (messages, negative, joyful) counts."""
    return [DayMood(day, *counts.get(day, (0, 0, 0))) for day in days]


def day_counts(readings: Iterable[StoredReading]) -> dict[str, tuple[int, int, int]]:
    """(messages, negative, joyful) per day of `readings`."""
    counts: dict[str, tuple[int, int, int]] = {}
    for stored in readings:
        m, n, p = counts.get(stored.day, (0, 0, 0))
        counts[stored.day] = (
            m + 1,
            n + stored.reading.negative,
            p + bool(stored.reading.labels & POSITIVE),
        )
    return counts


def sustained_negative(series: Sequence[DayMood], *, window_days: int, negative_days: int) -> bool:
    """At least `negative_days` negative days among the last `window_days` of `series`."""
    window = series[-window_days:]
    return sum(day.is_negative for day in window) >= negative_days


@dataclass(frozen=True, slots=True)
class MoodSummary:
    """What /mood says in words: the Fluent key of the overall tone, and the counts."""

    tone: str  # "none" | "good" | "mixed" | "low"
    days_with_messages: int
    good_days: int
    low_days: int
    trend: str  # "up" | "down" | "flat"


def summarize(series: Sequence[DayMood]) -> MoodSummary:
    scored = [day for day in series if day.score is not None]
    if not scored:
        return MoodSummary("none", 0, 0, 0, "flat")
    good = sum(1 for day in scored if (day.score or 0) > 0)
    low = sum(1 for day in scored if day.is_negative)
    mean = sum(day.score or 0 for day in scored) / len(scored)
    tone = "good" if mean > 0.15 else "low" if mean < -0.15 else "mixed"
    half = len(scored) // 2
    trend = "flat"
    if half:
        early = sum(d.score or 0 for d in scored[:half]) / half
        late = sum(d.score or 0 for d in scored[-half:]) / half
        trend = "up" if late - early > 0.2 else "down" if early - late > 0.2 else "flat"
    return MoodSummary(tone, len(scored), good, low, trend)
