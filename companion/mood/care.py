"""The persona's care: a sustained negative trend changes the system prompt (through the
`MoodCareSource` port) and, now and then, brings the offer of professional help."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from datetime import date, datetime, timedelta

from companion.config import MoodCareSettings
from companion.domain.models import User
from companion.mood.store import DayCounts, MoodState, MoodStore, StoredReading
from companion.mood.trends import (
    DayMood,
    daily_series,
    day_counts,
    day_range,
    series_from_counts,
    sustained_negative,
)
from companion.personas.dayparts import user_timezone

# How many users' answers this process keeps, and for how long (another worker may have stored
# a newer reading): the reply asks on every turn.
_CACHE_USERS = 4096
_CACHE_TTL_S = 300.0
HELP_OFFERED = "help_offered_at"


def local_day(user: User, now: datetime) -> date:
    """The user's calendar date at `now`, in their time zone."""
    return now.astimezone(user_timezone(user.settings.timezone, user.language)).date()


class MoodCare:
    """Implements `companion.domain.ports.MoodCareSource`.

    It is decided from the user's recent days (messages, negative, joyful per day), which the
    background reader keeps up to date in their mood state (`add`, off the reply's path): a
    reply costs one document read, or nothing when this process decided recently
    (benchmarks/mood_overhead.py; reading the window's readings instead costs ~15 ms for 140).
    """

    def __init__(
        self, store: MoodStore, settings: MoodCareSettings, clock: Callable[[], datetime]
    ) -> None:
        self._store = store
        self._settings = settings
        self._clock = clock
        # user id -> (answer, the user's local day it is for, monotonic time it was learnt)
        self._cache: OrderedDict[int, tuple[bool, str, float]] = OrderedDict()

    async def series(self, user: User, days: int) -> list[DayMood]:
        """The user's last `days` days (today included), oldest first."""
        now = self._clock()
        # A day more than asked for: the first local day may start before `now - days` in UTC.
        readings = await self._store.for_user(user.id, now - timedelta(days=days + 1))
        return daily_series(readings, day_range(local_day(user, now), days))

    async def needs_care(self, user: User) -> bool:
        if not user.settings.mood_tracking:
            return False
        today = local_day(user, self._clock())
        cached = self._cache.get(user.id)
        fresh = cached is not None and time.monotonic() - cached[2] < _CACHE_TTL_S
        if cached is not None and fresh and cached[1] == today.isoformat():
            return cached[0]
        return self._decide(user.id, await self._store.day_counts(user.id), today)

    async def add(self, user: User, readings: Sequence[StoredReading]) -> bool:
        """Count freshly stored readings of the user's into their recent days and decide
        again (the background reader, off the reply's path)."""
        today = local_day(user, self._clock())
        keep_from = today - timedelta(days=self._settings.window_days)
        counts = await self._store.add_day_counts(
            user.id, day_counts(readings), keep_from.isoformat()
        )
        return self._decide(user.id, counts, today)

    async def forget_days(self, user: User) -> None:
        """/mood clear: no readings, so no recent days."""
        await self._store.clear_day_counts(user.id)
        self.invalidate(user.id)

    def _decide(self, user_id: int, counts: dict[str, DayCounts], today: date) -> bool:
        settings = self._settings
        series = series_from_counts(counts, day_range(today, settings.window_days))
        result = sustained_negative(
            series, window_days=settings.window_days, negative_days=settings.negative_days
        )
        self._remember(user_id, result, today.isoformat())
        return result

    def invalidate(self, user_id: int) -> None:
        self._cache.pop(user_id, None)

    def _remember(self, user_id: int, result: bool, day: str) -> None:
        self._cache[user_id] = (result, day, time.monotonic())
        self._cache.move_to_end(user_id)
        while len(self._cache) > _CACHE_USERS:
            self._cache.popitem(last=False)

    async def help_offer_due(self, user: User, state: MoodState) -> bool:
        """True, once per `help_offer_every_days`, while the trend is negative: the caller
        then shows the offer (the claim is atomic, so one worker shows it once)."""
        if not await self.needs_care(user):
            return False
        now = self._clock()
        not_since = now - timedelta(days=self._settings.help_offer_every_days)
        if state.help_offered_at is not None and state.help_offered_at >= not_since:
            return False  # known from the state: no round trip
        return await self._store.claim(user.id, HELP_OFFERED, now, not_since)
