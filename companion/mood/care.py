"""The persona's care: a sustained negative trend changes the system prompt (through the
`MoodCareSource` port) and, now and then, brings the offer of professional help."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from datetime import date, datetime, timedelta

from companion.config import MoodCareSettings
from companion.domain.models import User
from companion.mood.store import MoodStore
from companion.mood.trends import DayMood, daily_series, day_range, sustained_negative
from companion.personas.dayparts import user_timezone

# How many users' answers this process keeps, and for how long: the reply asks on every turn,
# and the background reader drops a user's entry whenever it stores a new reading of theirs.
_CACHE_USERS = 4096
_CACHE_TTL_S = 300.0
HELP_OFFERED = "help_offered_at"


def local_day(user: User, now: datetime) -> date:
    """The user's calendar date at `now`, in their time zone."""
    return now.astimezone(user_timezone(user.settings.timezone, user.language)).date()


class MoodCare:
    """Implements `companion.domain.ports.MoodCareSource`."""

    def __init__(
        self, store: MoodStore, settings: MoodCareSettings, clock: Callable[[], datetime]
    ) -> None:
        self._store = store
        self._settings = settings
        self._clock = clock
        self._cache: OrderedDict[int, tuple[bool, float]] = OrderedDict()

    async def series(self, user: User, days: int) -> list[DayMood]:
        """The user's last `days` days (today included), oldest first."""
        now = self._clock()
        # A day more than asked for: the first local day may start before `now - days` in UTC.
        readings = await self._store.for_user(user.id, now - timedelta(days=days + 1))
        return daily_series(readings, day_range(local_day(user, now), days))

    async def needs_care(self, user: User) -> bool:
        if not user.settings.mood_tracking:
            return False
        cached = self._cache.get(user.id)
        if cached is not None and time.monotonic() - cached[1] < _CACHE_TTL_S:
            return cached[0]
        settings = self._settings
        series = await self.series(user, settings.window_days)
        result = sustained_negative(
            series, window_days=settings.window_days, negative_days=settings.negative_days
        )
        self._cache[user.id] = (result, time.monotonic())
        self._cache.move_to_end(user.id)
        while len(self._cache) > _CACHE_USERS:
            self._cache.popitem(last=False)
        return result

    def invalidate(self, user_id: int) -> None:
        self._cache.pop(user_id, None)

    async def help_offer_due(self, user: User) -> bool:
        """True, once per `help_offer_every_days`, while the trend is negative: the caller
        then shows the offer (the claim is atomic, so one worker shows it once)."""
        if not await self.needs_care(user):
            return False
        now = self._clock()
        not_since = now - timedelta(days=self._settings.help_offer_every_days)
        return await self._store.claim(user.id, HELP_OFFERED, now, not_since)
