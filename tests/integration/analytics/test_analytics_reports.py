"""Every report against the hand-counted world of conftest.py (real SecantusDB and Redis)."""

from __future__ import annotations

import io
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from PIL import Image

from companion.analytics import charts
from companion.analytics.period import Period
from companion.analytics.reports import (
    ActivityReport,
    FunnelReport,
    PaywallReport,
    PopularityReport,
    PopularityRow,
    RetentionReport,
    RevenueReport,
    SubscriptionsReport,
)
from companion.analytics.service import AnalyticsService, UnknownReportError
from tests.integration.analytics.conftest import PERIOD

pytestmark = pytest.mark.usefixtures("world")


async def test_activity(analytics: AnalyticsService) -> None:
    report = await analytics.report("activity", PERIOD)
    assert isinstance(report, ActivityReport)
    #                      11-01 02 03 04 05 06 07
    assert report.new_users == [2, 1, 0, 0, 1, 0, 0]
    assert report.dau == [1, 2, 1, 1, 0, 0, 0]
    assert report.messages == [2, 2, 2, 4, 0, 0, 0]  # replies are not counted
    assert report.voice == [0, 1, 1, 0, 0, 0, 0]
    assert report.wau == 4  # people 1, 2, 3, 5
    assert report.mau == 5  # and person 7 in October
    summary = dict((line.key, line.value) for line in report.summary())
    assert summary["stats-new-users"] == "4"
    assert summary["stats-messages"] == "10"
    assert summary["stats-voice-notes"] == "2"
    assert summary["stats-dau-average"] == "0.7"


async def test_funnel(analytics: AnalyticsService) -> None:
    report = await analytics.report("funnel", PERIOD)
    assert isinstance(report, FunnelReport)
    assert report.steps == [
        ("start", 8),
        ("language", 6),
        ("consent", 4),
        ("persona", 3),
        ("first_message", 2),
        ("tenth_message", 1),
    ]
    assert report.summary()[3].value == "3 (75.0%)"
    assert report.table().rows[-1] == ["stats-step-tenth_message", "1", "50.0%", "12.5%"]


async def test_persona_and_module_popularity(analytics: AnalyticsService) -> None:
    report = await analytics.report("personas", PERIOD)
    assert isinstance(report, PopularityReport)
    assert report.personas == [
        PopularityRow("leo", 2, 2),
        PopularityRow("dasha", 1, 3),
        PopularityRow("kylie", 1, 3),
        PopularityRow("ghost", 1, 1),
        PopularityRow("mark", 1, 1),
    ]
    assert report.modules == [
        PopularityRow("partner", 2, 4),  # person 1 to kylie, person 3 to mark
        PopularityRow("support", 2, 2),
        PopularityRow("practice", 1, 3),
        PopularityRow("unknown", 1, 1),
    ]


async def test_paywall_conversion(analytics: AnalyticsService) -> None:
    report = await analytics.report("paywall", PERIOD)
    assert report == PaywallReport(period=PERIOD, views=3, checkouts=2, payments=1)
    assert [line.value for line in report.summary()] == ["3", "2 (66.7%)", "1 (50.0%)", "33.3%"]


async def test_revenue_by_provider(analytics: AnalyticsService) -> None:
    report = await analytics.report("revenue", PERIOD)
    assert isinstance(report, RevenueReport)
    stars, yookassa = report.rows
    assert (stars.provider, stars.currency, stars.payments, stars.gross) == (
        "telegram_stars",
        "XTR",
        1,
        Decimal("250"),
    )
    assert (yookassa.provider, yookassa.currency) == ("yookassa", "RUB")
    assert (yookassa.payments, yookassa.renewals) == (3, 1)  # the erased payer's counts too
    assert yookassa.gross == Decimal("1047.00")
    assert yookassa.refunded == Decimal("100.50")
    assert yookassa.net == Decimal("946.50")
    assert report.daily["RUB"] == [
        0,
        Decimal("449.00"),
        0,
        0,
        Decimal("449.00"),
        0,
        Decimal("149.00"),
    ]
    assert report.daily["XTR"] == [0, 0, Decimal("250"), 0, 0, 0, 0]


async def test_subscriptions_renewals_and_churn(analytics: AnalyticsService) -> None:
    report = await analytics.report("subscriptions", PERIOD)
    assert isinstance(report, SubscriptionsReport)
    assert report.active_pro == 3  # active, cancelled but paid up, in grace
    assert report.by_plan == {"pro_month": 2, "pro_week": 1}
    assert report.new_pro == 1
    assert report.renewals == 2
    assert report.churned == 2  # expired and refunded; a cancellation is not churn yet
    assert report.churn_rate == pytest.approx(0.4)


async def test_retention_cohorts(analytics: AnalyticsService) -> None:
    report = await analytics.report("retention", PERIOD)
    assert isinstance(report, RetentionReport)
    by_day = {cohort.day: cohort for cohort in report.cohorts}
    assert [cohort.size for cohort in report.cohorts] == [2, 1, 0, 0, 1, 0, 0]
    assert by_day[date(2026, 11, 1)].retained == {1: 2, 7: 1, 30: 1}
    assert by_day[date(2026, 11, 2)].retained == {1: 1, 7: 0, 30: 0}
    assert by_day[date(2026, 11, 5)].retained == {1: 0, 7: 0, 30: 0}
    assert report.overall(1) == (3, 4)
    assert report.overall(30) == (1, 4)


async def test_retention_leaves_days_to_come_open(mongo_db, personas, world) -> None:
    # On 12-03 the D30 day of the 11-05 cohort (12-05) has not come: left out, not a zero.
    early = AnalyticsService(
        mongo_db,
        personas,
        redis=None,
        key_prefix="x",
        clock=lambda: datetime(2026, 12, 3, 8, tzinfo=UTC),
    )
    report = await early.report("retention", PERIOD)
    assert isinstance(report, RetentionReport)
    assert report.cohorts[4].retained[30] is None
    assert report.overall(30) == (1, 3)
    assert report.table().rows[4][-1] == "…"


async def test_without_redis_the_anonymous_steps_are_zero(mongo_db, personas, world) -> None:
    service = AnalyticsService(mongo_db, personas, redis=None, key_prefix="x")
    report = await service.report("funnel", PERIOD)
    assert isinstance(report, FunnelReport)
    assert report.steps[:3] == [("start", 0), ("language", 0), ("consent", 4)]


async def test_an_empty_period_is_all_zeros(analytics: AnalyticsService) -> None:
    quiet = Period.between(date(2025, 1, 1), date(2025, 1, 3))
    activity = await analytics.report("activity", quiet)
    assert isinstance(activity, ActivityReport)
    assert (activity.dau, activity.messages, activity.wau) == ([0, 0, 0], [0, 0, 0], 0)
    revenue = await analytics.report("revenue", quiet)
    assert isinstance(revenue, RevenueReport)
    assert revenue.rows == []
    paywall = await analytics.report("paywall", quiet)
    assert [line.value for line in paywall.summary()][-1] == "—"


async def test_unknown_report(analytics: AnalyticsService) -> None:
    with pytest.raises(UnknownReportError):
        await analytics.report("gossip", PERIOD)


async def test_every_report_draws_a_png(analytics: AnalyticsService) -> None:
    for name in analytics.names:
        report = await analytics.report(name, PERIOD)
        png = await charts.render_async(report)
        image = Image.open(io.BytesIO(png))
        assert image.format == "PNG", name
        assert image.size == (900, 500), name


async def test_closed_days_are_kept_as_rollups(analytics: AnalyticsService, mongo_db) -> None:
    first = await analytics.report("activity", PERIOD)
    kept = {doc["_id"]: doc async for doc in mongo_db["analytics_people"].find({})}
    days = [f"2026-11-0{d}" for d in range(1, 8)]
    month = [f"2026-10-{d:02d}" for d in range(9, 32)] + days  # MAU: the 30 days to 11-07
    assert sorted(kept) == sorted(
        [f"consent:{day}" for day in days] + [f"messages:{day}" for day in month]
    )
    # 11-04: person 5, three to dasha and one to ghost; pseudonyms only, never the user id.
    groups = {g["g"]: g for g in kept["messages:2026-11-04"]["groups"]}
    assert sorted(groups) == ["dasha", "ghost"]
    assert len(groups["dasha"]["people"]) == 8 and groups["dasha"]["people"] != (5).to_bytes(
        8, "little"
    )
    assert not any(key in doc for doc in kept.values() for key in ("user_id", "users", "ids"))
    # A closed day is read from its rollup: a message stamped into it later is not counted.
    await mongo_db["messages"].insert_one(
        {
            "_id": "late",
            "user_id": 9,
            "persona_id": "leo",
            "role": "user",
            "source": "text",
            "created_at": datetime(2026, 11, 4, 20, tzinfo=UTC),
            "seq": 1,
            "conversation_id": "x",
        }
    )
    again = await analytics.report("activity", PERIOD)
    assert again == first


async def test_the_open_day_is_counted_live(mongo_db, personas, world) -> None:
    # On 11-04 at 12:30: days before are closed, 11-04 is kept up to 12:20 and counted live
    # after it, later days are empty.
    service = AnalyticsService(
        mongo_db,
        personas,
        redis=None,
        key_prefix="x",
        clock=lambda: datetime(2026, 11, 4, 12, 30, tzinfo=UTC),
    )
    report = await service.report("activity", PERIOD)
    assert isinstance(report, ActivityReport)
    assert report.messages[:4] == [2, 2, 2, 4]
    await mongo_db["messages"].insert_one(
        {
            "_id": "now",
            "user_id": 1,
            "persona_id": "kylie",
            "role": "user",
            "source": "voice",
            "created_at": datetime(2026, 11, 4, 12, 29, tzinfo=UTC),
            "seq": 99,
            "conversation_id": "y",
        }
    )
    report = await service.report("activity", PERIOD)
    assert isinstance(report, ActivityReport)
    assert (report.messages[3], report.voice[3], report.dau[3]) == (5, 1, 2)
    kept = await mongo_db["analytics_people"].find_one({"_id": "messages:2026-11-04"})
    assert kept is not None and kept["through"] == datetime(2026, 11, 4, 12, 20, tzinfo=UTC)
    # WAU/MAU as of the end of 11-03, the last closed day: people 1, 2, 3 (and 7 in October).
    assert (report.wau, report.mau) == (3, 4)
