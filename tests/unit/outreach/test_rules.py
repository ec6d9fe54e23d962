"""Planner and policy rules with a hand-set clock: quiet hours across zones, follow-up times,
the crisis guard, consent, blocked, opt-out, persona and staleness."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from companion.config import OutreachSettings
from companion.domain.models import User, UserSettings
from companion.outreach.jobs import CheckinJob, JobKind
from companion.outreach.planner import followup_due, in_quiet_hours, next_allowed, silence_due
from companion.outreach.policies import Action, Circumstances, decide

SETTINGS = OutreachSettings(quiet_start_hour=22, quiet_end_hour=9, followup_hour=19)
MOSCOW = ZoneInfo("Europe/Moscow")  # UTC+3
LA = ZoneInfo("America/Los_Angeles")  # UTC-8 in December


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


@pytest.mark.parametrize(
    ("hour", "quiet"), [(21, False), (22, True), (23, True), (0, True), (8, True), (9, False)]
)
def test_quiet_hours_wrap_midnight(hour: int, quiet: bool) -> None:
    assert in_quiet_hours(hour, SETTINGS) is quiet


def test_quiet_hours_without_wrap_and_none() -> None:
    daytime = OutreachSettings(quiet_start_hour=1, quiet_end_hour=7)
    assert in_quiet_hours(3, daytime) and not in_quiet_hours(7, daytime)
    assert not in_quiet_hours(3, OutreachSettings(quiet_start_hour=5, quiet_end_hour=5))


def test_the_same_instant_is_quiet_in_one_zone_and_not_in_another() -> None:
    at = utc(2026, 12, 5, 20, 0)  # 23:00 in Moscow, 12:00 in Los Angeles
    assert next_allowed(at, LA, SETTINGS) == at
    assert next_allowed(at, MOSCOW, SETTINGS) == utc(2026, 12, 6, 6, 0)  # 09:00 Moscow


def test_after_midnight_waits_for_the_same_mornings_end() -> None:
    at = utc(2026, 12, 5, 23, 30)  # 02:30 in Moscow on the 6th
    assert next_allowed(at, MOSCOW, SETTINGS) == utc(2026, 12, 6, 6, 0)


def test_exam_tomorrow_is_followed_up_on_its_evening_local_time() -> None:
    learnt = utc(2026, 12, 5, 12, 0)
    assert followup_due(date(2026, 12, 6), learnt, MOSCOW, SETTINGS) == utc(2026, 12, 6, 16, 0)
    assert followup_due(date(2026, 12, 6), learnt, LA, SETTINGS) == utc(2026, 12, 7, 3, 0)


def test_an_event_learnt_after_its_evening_gets_the_next_morning() -> None:
    learnt = utc(2026, 12, 5, 19, 0)  # 22:00 in Moscow, the event is today
    due = followup_due(date(2026, 12, 5), learnt, MOSCOW, SETTINGS)
    assert due == utc(2026, 12, 6, 7, 0)  # 10:00 Moscow: after quiet hours, not in them


def test_past_and_far_events_get_no_follow_up() -> None:
    learnt = utc(2026, 12, 5, 12, 0)
    assert followup_due(date(2026, 12, 4), learnt, MOSCOW, SETTINGS) is None
    assert followup_due(date(2027, 6, 1), learnt, MOSCOW, SETTINGS) is None


def test_silence_lands_outside_quiet_hours() -> None:
    last = utc(2026, 12, 1, 20, 30)  # 23:30 Moscow; four days later is also 23:30
    assert silence_due(last, MOSCOW, SETTINGS) == utc(2026, 12, 6, 6, 0)
    assert silence_due(utc(2026, 12, 1, 12), MOSCOW, SETTINGS) == utc(2026, 12, 5, 12)


def job(kind: JobKind = JobKind.EVENT, due: datetime | None = None) -> CheckinJob:
    due = due or utc(2026, 12, 6, 16, 0)
    return CheckinJob(
        id=f"{kind.value}:1",
        kind=kind,
        user_id=1,
        persona_id="anna",
        due_at=due,
        scheduled_at=due,
        created_at=due - timedelta(days=1),
        updated_at=due,
    )


def person(**changes: object) -> User:
    user = User(
        id=1,
        language="ru",
        consent_at=utc(2026, 1, 1),
        current_persona_id="anna",
        settings=UserSettings(timezone="Europe/Moscow"),
    )
    return user.model_copy(update=changes)


NOW = utc(2026, 12, 6, 16, 5)  # 19:05 in Moscow


def verdict(user: User | None, *, fact_exists: bool = True) -> tuple[Action, object]:
    result = decide(job(), Circumstances(user, MOSCOW, fact_exists=fact_exists), NOW, SETTINGS)
    return result.action, result.reason


def test_a_consented_person_gets_the_model_written_follow_up() -> None:
    assert verdict(person()) == (Action.WRITE, None)


@pytest.mark.parametrize(
    ("user", "reason"),
    [
        (None, "no_user"),
        (person(consent_at=None), "no_consent"),
        (person(blocked_at=utc(2026, 12, 1)), "blocked"),
        (person(settings=UserSettings(checkins=False)), "opted_out"),
        (person(current_persona_id="mark"), "persona_changed"),
    ],
)
def test_who_never_gets_a_check_in(user: User | None, reason: str) -> None:
    assert verdict(user) == (Action.SKIP, reason)


def test_a_forgotten_fact_is_not_asked_about() -> None:
    assert verdict(person(), fact_exists=False) == (Action.SKIP, "fact_gone")


def test_quiet_hours_defer_to_the_users_morning() -> None:
    late = utc(2026, 12, 6, 20, 0)  # 23:00 Moscow
    result = decide(job(), Circumstances(person(), MOSCOW), late, SETTINGS)
    assert result.action is Action.DEFER
    assert result.until == utc(2026, 12, 7, 6, 0)
    # The same instant is an ordinary afternoon in Los Angeles.
    in_la = person(settings=UserSettings(timezone="America/Los_Angeles"))
    assert decide(job(), Circumstances(in_la, LA), late, SETTINGS).action is Action.WRITE


def test_after_a_crisis_only_the_reviewed_template() -> None:
    recent = Circumstances(person(), MOSCOW, last_crisis_at=NOW - timedelta(days=3))
    assert decide(job(), recent, NOW, SETTINGS).action is Action.TEMPLATE
    long_ago = Circumstances(person(), MOSCOW, last_crisis_at=NOW - timedelta(days=30))
    assert decide(job(), long_ago, NOW, SETTINGS).action is Action.WRITE


def test_a_job_due_days_ago_is_stale() -> None:
    old = job(due=NOW - timedelta(days=2))
    assert decide(old, Circumstances(person(), MOSCOW), NOW, SETTINGS).reason == "stale"
