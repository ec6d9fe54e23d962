"""Mood series, trend, satisfaction estimate and the owner's aggregates against fixtures
counted by hand (the counts are written out next to each fixture)."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from companion.mood.emotions import Emotion, EmotionReading
from companion.mood.reports import (
    mood_groups,
    satisfaction_estimate,
    survey_stats,
    week_of,
)
from companion.mood.store import StoredReading
from companion.mood.survey import SurveyResponse
from companion.mood.trends import daily_series, day_range, summarize, sustained_negative

JOY = EmotionReading(frozenset({Emotion.JOY}))
SAD = EmotionReading(frozenset({Emotion.SADNESS}))
FEAR_JOY = EmotionReading(frozenset({Emotion.FEAR, Emotion.JOY}))
NONE = EmotionReading(frozenset({Emotion.NONE}))


def r(
    user: int, day: str, reading: EmotionReading, persona: str = "anna", conv: str = ""
) -> StoredReading:
    return StoredReading(
        user_id=user,
        at=datetime.fromisoformat(day).replace(hour=12, tzinfo=UTC),
        day=day,
        persona_id=persona,
        module="support" if persona == "anna" else "practice",
        conversation_id=conv or f"{user}-{persona}",
        reading=reading,
    )


def test_daily_series_counts_each_day_and_leaves_gaps() -> None:
    days = day_range(date(2026, 12, 3), 3)
    assert days == ["2026-12-01", "2026-12-02", "2026-12-03"]
    readings = [
        r(1, "2026-12-01", SAD),
        r(1, "2026-12-01", JOY),  # 12-01: 2 messages, 1 negative, 1 joyful -> negative day
        r(1, "2026-12-03", FEAR_JOY),  # 12-03: 1 message, negative and joyful
        r(1, "2026-12-03", NONE),  # 12-03: 2 messages, 1 negative -> negative day
        r(1, "2026-11-30", SAD),  # outside the range
    ]
    series = daily_series(readings, days)
    assert [(d.messages, d.negative, d.positive) for d in series] == [
        (2, 1, 1),
        (0, 0, 0),
        (2, 1, 1),
    ]
    assert [d.is_negative for d in series] == [True, False, True]
    assert [d.score for d in series] == [0.0, None, 0.0]


def test_sustained_negative_needs_the_threshold_within_the_window() -> None:
    days = day_range(date(2026, 12, 7), 7)
    # Negative on days 1, 2, 4, 5 (4 of 7); day 7 joyful.
    sad_days = ["2026-12-01", "2026-12-02", "2026-12-04", "2026-12-05"]
    readings = [r(1, d, SAD) for d in sad_days] + [r(1, "2026-12-07", JOY)]
    series = daily_series(readings, days)
    assert not sustained_negative(series, window_days=7, negative_days=5)
    assert sustained_negative(series, window_days=7, negative_days=4)
    # A 5th negative day makes it 5 of 7; the last 3 days (05 sad, 06 sad, 07 joy) hold 2.
    series = daily_series([*readings, r(1, "2026-12-06", SAD)], days)
    assert sustained_negative(series, window_days=7, negative_days=5)
    assert sustained_negative(series, window_days=3, negative_days=2)
    assert not sustained_negative(series, window_days=3, negative_days=3)


def test_summary_tone_and_trend() -> None:
    days = day_range(date(2026, 12, 4), 4)
    # Two sad days then two joyful days: mean 0, trend up.
    readings = [r(1, days[0], SAD), r(1, days[1], SAD), r(1, days[2], JOY), r(1, days[3], JOY)]
    summary = summarize(daily_series(readings, days))
    assert (summary.tone, summary.trend) == ("mixed", "up")
    assert (summary.days_with_messages, summary.good_days, summary.low_days) == (4, 2, 2)
    assert summarize(daily_series([], days)).tone == "none"


def test_satisfaction_estimate_by_hand() -> None:
    # 4 messages on 2 days: 2 joyful, 1 sad. 5.5 + 2.5*(0.5-0.25) + log2(5)/4 + 0.25
    readings = [
        r(1, "2026-12-01", JOY),
        r(1, "2026-12-01", SAD),
        r(1, "2026-12-02", JOY),
        r(1, "2026-12-02", NONE),
    ]
    assert satisfaction_estimate(readings) == pytest.approx(5.5 + 0.625 + 0.5805 + 0.25, abs=0.01)
    # All sad, one message: 5.5 - 2.5 + log2(2)/4 = 3.25
    assert satisfaction_estimate([r(1, "2026-12-01", SAD)]) == 3.25
    # Capped at 10 and floored at 1 whatever the length.
    long_happy = [r(1, f"2026-12-{d:02d}", JOY) for d in range(1, 29) for _ in range(20)]
    assert satisfaction_estimate(long_happy) == 10.0


def test_mood_groups_are_anonymous_and_hand_counted() -> None:
    # Week 2026-W49 (Nov 30 - Dec 6). anna: users 1, 2, 3; mark: users 1, 2 only.
    readings = [
        r(1, "2026-12-01", SAD),
        r(1, "2026-12-02", JOY),
        r(2, "2026-12-01", SAD),
        r(3, "2026-12-03", NONE),
        r(1, "2026-12-01", JOY, persona="mark"),
        r(2, "2026-12-01", JOY, persona="mark"),
        # Week 2026-W50: anna with one user only.
        r(1, "2026-12-08", SAD),
    ]
    assert week_of("2026-12-01") == "2026-W49" and week_of("2026-12-08") == "2026-W50"
    groups = mood_groups(readings, min_users=3)
    # Only anna/W49 and module support/W49 have 3 people; mark (2), practice (2) and W50 (1)
    # are left out.
    assert [(g.kind, g.key, g.week) for g in groups] == [
        ("module", "support", "2026-W49"),
        ("persona", "anna", "2026-W49"),
    ]
    anna = groups[1]
    # 4 messages: 2 sad, 1 joyful.
    assert (anna.users, anna.messages) == (3, 4)
    assert (anna.negative_share, anna.positive_share) == (0.5, 0.25)
    # Conversations: user 1 (sad + joy, 2 days), user 2 (sad), user 3 (none).
    one = 5.5 + 0 + 0.3962 + 0.25
    two = 5.5 - 2.5 + 0.25
    three = 5.5 + 0.25
    assert anna.satisfaction == pytest.approx((one + two + three) / 3, abs=0.01)
    assert len(mood_groups(readings, min_users=2)) == 4  # mark and practice appear at 2


def test_survey_stats_hand_counted() -> None:
    def a(score: int | None, persona: str, day: str, comment: bool = False) -> SurveyResponse:
        at = datetime.fromisoformat(day).replace(tzinfo=UTC)
        return SurveyResponse(persona, "support", score, at, comment)

    responses = [
        a(8, "anna", "2026-12-01", comment=True),
        a(10, "anna", "2026-12-02"),
        a(6, "mark", "2026-12-02"),
        a(None, "mark", "2026-12-03"),  # skipped
        a(7, "mark", "2026-12-08"),
    ]
    stats = survey_stats(responses, target=7.5)
    assert (stats.answers, stats.skipped, stats.comments) == (4, 1, 1)
    assert stats.mean == 7.75 and stats.meets_target  # (8 + 10 + 6 + 7) / 4
    assert stats.distribution == {1: 0, 2: 0, 3: 0, 4: 0, 5: 0, 6: 1, 7: 1, 8: 1, 9: 0, 10: 1}
    assert [(g.key, g.answers, g.mean) for g in stats.by_persona] == [
        ("anna", 2, 9.0),
        ("mark", 2, 6.5),
    ]
    assert [(g.key, g.answers, g.mean) for g in stats.by_week] == [
        ("2026-W49", 3, 8.0),
        ("2026-W50", 1, 7.0),
    ]
    assert not survey_stats(responses[2:], target=7.5).meets_target  # (6 + 7) / 2 = 6.5
    assert survey_stats([], target=7.5).mean is None
