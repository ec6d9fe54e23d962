"""The period a report covers: whole UTC days, [since, until)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

DAY = timedelta(days=1)
# A day counts as closed this long after its midnight: a message stamped by a worker whose clock
# is a little behind still lands in a day that is not kept as final yet.
CLOSE_AFTER = timedelta(minutes=10)


def midnight(day: date) -> datetime:
    """The UTC midnight that starts `day`."""
    return datetime.combine(day, time.min, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class Period:
    """UTC midnights; `until` is exclusive, so "the last 7 days" ends at tomorrow's midnight."""

    since: datetime
    until: datetime

    def __post_init__(self) -> None:
        if self.until <= self.since:
            raise ValueError("a period must end after it starts")

    @classmethod
    def last_days(cls, days: int, *, now: datetime | None = None) -> Period:
        """The `days` days up to and including today (UTC)."""
        if days < 1:
            raise ValueError("a period is at least one day")
        today = (now or datetime.now(UTC)).astimezone(UTC).date()
        return cls(midnight(today - timedelta(days=days - 1)), midnight(today + DAY))

    @classmethod
    def between(cls, first: date, last: date) -> Period:
        """From the day `first` through the day `last`, both included."""
        return cls(midnight(first), midnight(last + DAY))

    @property
    def days(self) -> list[date]:
        first = self.since.astimezone(UTC).date()
        count = (self.until - self.since) // DAY
        return [first + timedelta(days=i) for i in range(count)]

    @property
    def length(self) -> int:
        return len(self.days)

    def label(self) -> str:
        last = (self.until - DAY).astimezone(UTC).date()
        return f"{self.since.astimezone(UTC).date().isoformat()} … {last.isoformat()}"


def closed(day: date, now: datetime) -> bool:
    """Whether the day has ended (and the `CLOSE_AFTER` after it)."""
    return midnight(day) + DAY + CLOSE_AFTER <= now


def day_key(day: date) -> str:
    """The `$dateToString` form ("%Y-%m-%d") aggregations group days by."""
    return day.isoformat()


DAY_FORMAT = "%Y-%m-%d"
