"""`AnalyticsService`: every report by name, for the admin panel and `companion stats`."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime

from pymongo.asynchronous.database import AsyncDatabase
from redis.asyncio import Redis

from companion.analytics import activity, funnel, money, retention, rolled
from companion.analytics.people import PeopleRollups
from companion.analytics.period import Period
from companion.analytics.reports import REPORTS, Report
from companion.config import Settings
from companion.domain.ports import PersonaCatalog
from companion.storage.crypto import FieldCipher, PlaintextCipher, load_cipher
from companion.storage.documents import Document


class UnknownReportError(ValueError):
    pass


def _now() -> datetime:
    return datetime.now(UTC)


class AnalyticsService:
    """Read-only over what the bot stores; it writes only its daily rollups
    (`analytics_people`). `raw=True` computes every report from the raw collections instead
    (the reference the rollups are checked against; slow at scale)."""

    def __init__(
        self,
        db: AsyncDatabase[Document],
        personas: PersonaCatalog,
        *,
        redis: Redis | None,
        key_prefix: str,
        clock: Callable[[], datetime] = _now,
        cipher: FieldCipher | None = None,
        raw: bool = False,
    ) -> None:
        self._db = db
        self._personas = personas
        self._redis = redis
        self._prefix = key_prefix
        self._clock = clock
        self._people = PeopleRollups(db, (cipher or PlaintextCipher()).pseudonym, clock)
        self._raw = raw

    @classmethod
    def build(
        cls,
        db: AsyncDatabase[Document],
        personas: PersonaCatalog,
        redis: Redis | None,
        settings: Settings,
        *,
        cipher: FieldCipher | None = None,
        raw: bool = False,
    ) -> AnalyticsService:
        """As the composition root and `companion stats` build it: the service's cipher keys
        the pseudonyms of the daily sets of people."""
        return cls(
            db,
            personas,
            redis=redis,
            key_prefix=settings.redis.key_prefix,
            cipher=cipher or load_cipher(settings.privacy, settings.environment),
            raw=raw,
        )

    @property
    def names(self) -> tuple[str, ...]:
        return REPORTS

    def last_days(self, days: int) -> Period:
        return Period.last_days(days, now=self._clock())

    async def report(self, name: str, period: Period) -> Report:
        if self._raw:
            return await self._raw_report(name, period)
        people = self._people
        if name == "activity":
            return await rolled.activity_report(people, period)
        if name == "funnel":
            return await rolled.funnel_report(people, self._redis, self._prefix, period)
        if name == "personas":
            return await rolled.popularity_report(people, self._personas, period)
        if name == "paywall":
            return await rolled.paywall_report(people, period)
        if name == "revenue":
            return await money.revenue_report(self._db, period)
        if name == "subscriptions":
            pro = await rolled.pro_events(people, period)
            return await money.subscriptions_report(self._db, period, pro_events=pro)
        if name == "retention":
            return await rolled.retention_report(people, period, now=self._clock())
        raise UnknownReportError(name)

    async def _raw_report(self, name: str, period: Period) -> Report:
        db = self._db
        if name == "activity":
            return await activity.activity_report(db, period, now=self._clock())
        if name == "funnel":
            return await funnel.funnel_report(db, self._redis, self._prefix, period)
        if name == "personas":
            return await funnel.popularity_report(db, self._personas, period)
        if name == "paywall":
            return await money.paywall_report(db, period)
        if name == "revenue":
            return await money.revenue_report(db, period)
        if name == "subscriptions":
            return await money.subscriptions_report(db, period)
        if name == "retention":
            return await retention.retention_report(db, period, now=self._clock())
        raise UnknownReportError(name)

    async def rebuild(self, first: date, last: date) -> int:
        """Drop the kept daily rollups of those days (both included), so the next report
        computes them again from the raw collections: after a late event or an import."""
        return await self._people.drop(first, last)
