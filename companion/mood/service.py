"""/mood for the person: their days as a chart and a few kind words, tracking on and off."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from companion.domain.models import User
from companion.domain.ports import UserStore
from companion.mood.care import MoodCare
from companion.mood.chart import render_chart
from companion.mood.store import MoodStore
from companion.mood.trends import DayMood, MoodSummary, summarize


@dataclass(frozen=True, slots=True)
class MoodView:
    series: list[DayMood]
    summary: MoodSummary
    chart_png: bytes | None  # None: no readings in the period, nothing to draw


class MoodService:
    def __init__(
        self, store: MoodStore, care: MoodCare, users: UserStore, *, chart_days: int
    ) -> None:
        self._store = store
        self._care = care
        self._users = users
        self._chart_days = chart_days

    async def view(self, user: User, language: str) -> MoodView:
        series = await self._care.series(user, self._chart_days)
        summary = summarize(series)
        chart = None
        if summary.days_with_messages:
            # Drawing is CPU work (~100 ms): off the event loop.
            chart = await asyncio.to_thread(render_chart, series, language)
        return MoodView(series, summary, chart)

    async def set_tracking(self, user: User, on: bool) -> None:
        """Off stops new readings; what was read stays (for /mood) until /mood clear or
        /forget."""
        await self._users.update(user.id, settings__mood_tracking=on)
        user.settings.mood_tracking = on
        self._care.invalidate(user.id)

    async def clear(self, user: User) -> int:
        deleted = await self._store.delete_user(user.id)
        await self._care.forget_days(user)
        return deleted
