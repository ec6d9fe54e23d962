"""`AnalyticsService`: every report by name, for the admin panel and `companion stats`."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from pymongo.asynchronous.database import AsyncDatabase
from redis.asyncio import Redis

from companion.analytics.activity import activity_report
from companion.analytics.funnel import funnel_report, popularity_report
from companion.analytics.money import paywall_report, revenue_report, subscriptions_report
from companion.analytics.period import Period
from companion.analytics.reports import REPORTS, Report
from companion.analytics.retention import retention_report
from companion.analytics.rollups import DailyRollups
from companion.config import Settings
from companion.domain.ports import PersonaCatalog
from companion.storage.documents import Document


class UnknownReportError(ValueError):
    pass


def _now() -> datetime:
    return datetime.now(UTC)


class AnalyticsService:
    """Read-only: it aggregates what the bot stores and writes nothing."""

    def __init__(
        self,
        db: AsyncDatabase[Document],
        personas: PersonaCatalog,
        *,
        redis: Redis | None,
        key_prefix: str,
        clock: Callable[[], datetime] = _now,
    ) -> None:
        self._db = db
        self._personas = personas
        self._redis = redis
        self._prefix = key_prefix
        self._clock = clock
        self._rollups = DailyRollups(db, clock)

    @classmethod
    def build(
        cls,
        db: AsyncDatabase[Document],
        personas: PersonaCatalog,
        redis: Redis | None,
        settings: Settings,
    ) -> AnalyticsService:
        """As the composition root and `companion stats` build it."""
        return cls(db, personas, redis=redis, key_prefix=settings.redis.key_prefix)

    @property
    def names(self) -> tuple[str, ...]:
        return REPORTS

    def last_days(self, days: int) -> Period:
        return Period.last_days(days, now=self._clock())

    async def report(self, name: str, period: Period) -> Report:
        if name == "activity":
            return await activity_report(period, self._rollups)
        if name == "funnel":
            return await funnel_report(self._db, self._redis, self._prefix, period)
        if name == "personas":
            return await popularity_report(self._db, self._personas, period)
        if name == "paywall":
            return await paywall_report(self._db, period)
        if name == "revenue":
            return await revenue_report(self._db, period)
        if name == "subscriptions":
            return await subscriptions_report(self._db, period)
        if name == "retention":
            return await retention_report(self._db, period, now=self._clock())
        raise UnknownReportError(name)
