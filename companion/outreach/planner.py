"""When to write: pure rules over dates and the user's time zone (no I/O, so tests pass times).

- An event the user mentioned ("exam tomorrow") gets a follow-up on the evening of its day
  (`followup_hour`, local); an event learnt too late for that evening gets it the next
  morning. Events already past when they were learnt, or months ahead, get none.
- Silence: `silence_days` after the last exchange, moved out of quiet hours.
- Quiet hours (`quiet_start_hour` to `quiet_end_hour`, local; may wrap midnight): nothing is
  sent then; a job due inside them waits for their end.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta, tzinfo

from companion.config import OutreachSettings

# A follow-up of an event further ahead than this is not planned (plans change).
MAX_AHEAD = timedelta(days=60)
# The morning after, when the evening was missed.
MORNING_DELAY_HOURS = 1


def _local(at: datetime, zone: tzinfo) -> datetime:
    return at.astimezone(zone)


def _at(day: date, hour: int, zone: tzinfo) -> datetime:
    return datetime.combine(day, time(hour), tzinfo=zone).astimezone(UTC)


def in_quiet_hours(local_hour: int, settings: OutreachSettings) -> bool:
    start, end = settings.quiet_start_hour, settings.quiet_end_hour
    if start == end:
        return False
    if start < end:
        return start <= local_hour < end
    return local_hour >= start or local_hour < end


def next_allowed(at: datetime, zone: tzinfo, settings: OutreachSettings) -> datetime:
    """`at` itself when it is outside quiet hours, else the end of those quiet hours."""
    local = _local(at, zone)
    if not in_quiet_hours(local.hour, settings):
        return at
    end = settings.quiet_end_hour
    day = local.date() if local.hour < end else local.date() + timedelta(days=1)
    return _at(day, end, zone)


def followup_due(
    event_date: date, learnt_at: datetime, zone: tzinfo, settings: OutreachSettings
) -> datetime | None:
    """When to ask how the event went; None when no follow-up fits."""
    learnt_day = _local(learnt_at, zone).date()
    if event_date < learnt_day or event_date - learnt_day > MAX_AHEAD:
        return None
    evening = _at(event_date, settings.followup_hour, zone)
    if evening > learnt_at:
        return next_allowed(evening, zone, settings)
    # Learnt on the day, after its evening: the next morning, once quiet hours end.
    morning = _at(event_date + timedelta(days=1), settings.quiet_end_hour, zone)
    return next_allowed(morning + timedelta(hours=MORNING_DELAY_HOURS), zone, settings)


def silence_due(last_at: datetime, zone: tzinfo, settings: OutreachSettings) -> datetime:
    return next_allowed(last_at + timedelta(days=settings.silence_days), zone, settings)
