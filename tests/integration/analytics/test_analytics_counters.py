"""The funnel's anonymous first steps: written by `Onboarding`, read by the funnel report."""

from __future__ import annotations

from datetime import UTC, datetime

from companion.analytics.period import Period
from companion.analytics.reports import FunnelReport
from companion.analytics.service import AnalyticsService
from companion.privacy.consent import Onboarding
from companion.storage.crypto import PlaintextCipher
from companion.storage.events import EventRepository
from companion.storage.users import UserRepository

DAY = datetime(2026, 11, 3, 15, tzinfo=UTC)


async def test_counted_by_onboarding_read_by_the_funnel(
    mongo_db, redis_client, redis_prefix, personas
) -> None:
    onboarding = Onboarding(
        UserRepository(mongo_db, PlaintextCipher()),
        EventRepository(mongo_db),
        redis_client,
        key_prefix=redis_prefix,
        clock=lambda: DAY,
    )
    await onboarding.count_start(new=True)
    await onboarding.count_start(new=True)
    await onboarding.count_start()  # someone who accepted before: not a funnel step
    await onboarding.count_language_chosen()
    try:
        analytics = AnalyticsService(
            mongo_db, personas, redis=redis_client, key_prefix=redis_prefix
        )
        report = await analytics.report("funnel", Period.last_days(7, now=DAY))
        assert isinstance(report, FunnelReport)
        assert report.steps[:3] == [("start", 2), ("language", 1), ("consent", 0)]
        before = await analytics.report(
            "funnel", Period.last_days(1, now=datetime(2026, 11, 2, tzinfo=UTC))
        )
        assert isinstance(before, FunnelReport)
        assert before.steps[:2] == [("start", 0), ("language", 0)]
        # Every /start is still counted as before, for whoever reads that counter.
        assert await redis_client.get(f"{redis_prefix}:stats:starts:20261103") == b"3"
    finally:
        keys = [key async for key in redis_client.scan_iter(f"{redis_prefix}:*")]
        if keys:
            await redis_client.delete(*keys)
