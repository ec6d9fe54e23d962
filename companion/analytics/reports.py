"""Typed report results: counts only, never message contents or Telegram ids.

Every report can say itself two ways, both with Fluent keys (``stats-...``, translated by the
front-end: the bot in the admin's language, the terminal in English): `summary()`, the headline
numbers beside its chart, and `table()`, the detail (one row per day, step, persona...).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import ClassVar, NamedTuple

from companion.analytics.period import Period


class Line(NamedTuple):
    """One line of numbers: a Fluent key (given `subject` as ``$subject``) and its value."""

    key: str
    value: str
    subject: str = ""


@dataclass(frozen=True, slots=True)
class Table:
    headers: list[str]  # Fluent keys
    rows: list[list[str]]


def percent(part: int | float, whole: int | float) -> str:
    return "—" if whole == 0 else f"{part / whole:.1%}"


def ratio(part: int | float, whole: int | float) -> float | None:
    return None if whole == 0 else part / whole


@dataclass(frozen=True, slots=True)
class ActivityReport:
    """New users (accepted the terms), active users (wrote at least one message), messages and
    voice notes sent by users, per day; WAU and MAU are the 7 and 30 days ending with the
    period."""

    name: ClassVar[str] = "activity"
    period: Period
    new_users: list[int]
    dau: list[int]
    messages: list[int]
    voice: list[int]
    wau: int
    mau: int

    @property
    def average_dau(self) -> float:
        return sum(self.dau) / len(self.dau) if self.dau else 0.0

    def summary(self) -> list[Line]:
        return [
            Line("stats-new-users", str(sum(self.new_users))),
            Line("stats-dau-average", f"{self.average_dau:.1f}"),
            Line("stats-wau", str(self.wau)),
            Line("stats-mau", str(self.mau)),
            Line("stats-stickiness", percent(self.average_dau, self.mau)),
            Line("stats-messages", str(sum(self.messages))),
            Line("stats-voice-notes", str(sum(self.voice))),
        ]

    def table(self) -> Table:
        rows = [
            [day.isoformat(), str(new), str(dau), str(messages), str(voice)]
            for day, new, dau, messages, voice in zip(
                self.period.days, self.new_users, self.dau, self.messages, self.voice, strict=True
            )
        ]
        return Table(
            [
                "stats-col-day",
                "stats-new-users",
                "stats-dau",
                "stats-messages",
                "stats-voice-notes",
            ],
            rows,
        )


FUNNEL_STEPS = ("start", "language", "consent", "persona", "first_message", "tenth_message")


@dataclass(frozen=True, slots=True)
class FunnelReport:
    """Onboarding, step by step. The first two steps happen before consent, so they are
    anonymous daily counts of /start and language choices by people not yet stored; from
    consent on, the people who accepted the terms in the period and how many of them reached
    each later step (by the end of the period)."""

    name: ClassVar[str] = "funnel"
    period: Period
    steps: list[tuple[str, int]]  # (step of FUNNEL_STEPS, count), in order

    def summary(self) -> list[Line]:
        lines: list[Line] = []
        previous: int | None = None
        for step, count in self.steps:
            share = "" if previous is None else f" ({percent(count, previous)})"
            lines.append(Line(f"stats-step-{step}", f"{count}{share}"))
            previous = count
        return lines

    def table(self) -> Table:
        first = self.steps[0][1] if self.steps else 0
        rows: list[list[str]] = []
        previous: int | None = None
        for step, count in self.steps:
            rows.append(
                [
                    f"stats-step-{step}",
                    str(count),
                    "—" if previous is None else percent(count, previous),
                    percent(count, first),
                ]
            )
            previous = count
        return Table(
            ["stats-col-step", "stats-col-count", "stats-col-of-previous", "stats-col-of-first"],
            rows,
        )


@dataclass(frozen=True, slots=True)
class PopularityRow:
    key: str  # a persona id or a module name
    users: int  # distinct people who chose it (or wrote to it) in the period
    messages: int  # messages people sent to it in the period


@dataclass(frozen=True, slots=True)
class PopularityReport:
    """Personas and modules (a persona's module: friend, partner 18+, support...) by the people
    who wrote to them and the messages they sent, most popular first."""

    name: ClassVar[str] = "personas"
    period: Period
    personas: list[PopularityRow]
    modules: list[PopularityRow]

    def summary(self) -> list[Line]:
        lines = [Line("stats-module", f"{r.users} / {r.messages}", r.key) for r in self.modules]
        lines += [
            Line("stats-persona", f"{r.users} / {r.messages}", r.key) for r in self.personas[:5]
        ]
        return lines

    def table(self) -> Table:
        rows = [[f"[{r.key}]", str(r.users), str(r.messages)] for r in self.modules]
        rows += [[r.key, str(r.users), str(r.messages)] for r in self.personas]
        return Table(["stats-col-persona", "stats-col-users", "stats-messages"], rows)


@dataclass(frozen=True, slots=True)
class PaywallReport:
    """Paywall views -> checkouts (a payment created) -> payments (first payments, renewals
    excluded), as distinct people in the period, with the conversion between steps."""

    name: ClassVar[str] = "paywall"
    period: Period
    views: int
    checkouts: int
    payments: int

    def summary(self) -> list[Line]:
        return [
            Line("stats-paywall-views", str(self.views)),
            Line("stats-checkouts", f"{self.checkouts} ({percent(self.checkouts, self.views)})"),
            Line("stats-payments", f"{self.payments} ({percent(self.payments, self.checkouts)})"),
            Line("stats-conversion", percent(self.payments, self.views)),
        ]

    def table(self) -> Table:
        rows = [
            ["stats-paywall-views", str(self.views), "—"],
            ["stats-checkouts", str(self.checkouts), percent(self.checkouts, self.views)],
            ["stats-payments", str(self.payments), percent(self.payments, self.checkouts)],
        ]
        return Table(["stats-col-step", "stats-col-users", "stats-col-of-previous"], rows)


@dataclass(frozen=True, slots=True)
class RevenueRow:
    provider: str
    currency: str
    payments: int
    renewals: int  # of `payments`, how many were renewal charges
    gross: Decimal
    refunded: Decimal

    @property
    def net(self) -> Decimal:
        return self.gross - self.refunded


@dataclass(frozen=True, slots=True)
class RevenueReport:
    """Succeeded payments paid in the period, by provider and currency (Stars and roubles are
    never added up), with what was refunded of them."""

    name: ClassVar[str] = "revenue"
    period: Period
    rows: list[RevenueRow]
    daily: dict[str, list[Decimal]] = field(default_factory=dict)  # currency -> gross per day

    def summary(self) -> list[Line]:
        return [
            Line(
                "stats-revenue-by",
                f"{row.net} {row.currency} ({row.payments}, −{row.refunded})",
                row.provider,
            )
            for row in self.rows
        ]

    def table(self) -> Table:
        rows = [
            [
                row.provider,
                row.currency,
                str(row.payments),
                str(row.renewals),
                str(row.gross),
                str(row.refunded),
                str(row.net),
            ]
            for row in self.rows
        ]
        return Table(
            [
                "stats-col-provider",
                "stats-col-currency",
                "stats-payments",
                "stats-renewals",
                "stats-col-gross",
                "stats-col-refunded",
                "stats-col-net",
            ],
            rows,
        )


@dataclass(frozen=True, slots=True)
class SubscriptionsReport:
    """PRO at the end of the period (as stored now: active, cancelled but paid up, or in the
    grace period), new PRO and renewals in the period, and churn: subscriptions that ended
    (expired or refunded) in the period, as a share of those that were PRO at some time in it
    (active at the end + ended)."""

    name: ClassVar[str] = "subscriptions"
    period: Period
    active_pro: int
    by_plan: dict[str, int]
    new_pro: int
    renewals: int
    churned: int

    @property
    def churn_rate(self) -> float | None:
        return ratio(self.churned, self.active_pro + self.churned)

    def summary(self) -> list[Line]:
        return [
            Line("stats-active-pro", str(self.active_pro)),
            Line("stats-new-pro", str(self.new_pro)),
            Line("stats-renewals", str(self.renewals)),
            Line("stats-churned", str(self.churned)),
            Line("stats-churn-rate", percent(self.churned, self.active_pro + self.churned)),
        ]

    def table(self) -> Table:
        rows = [[plan, str(count)] for plan, count in sorted(self.by_plan.items())]
        return Table(["stats-col-plan", "stats-active-pro"], rows)


@dataclass(frozen=True, slots=True)
class Cohort:
    day: date  # the day its people accepted the terms
    size: int
    # People active (wrote a message) on day +1, +7, +30; None: that day has not come yet.
    retained: dict[int, int | None]


RETENTION_DAYS = (1, 7, 30)


@dataclass(frozen=True, slots=True)
class RetentionReport:
    """D1/D7/D30 retention of the daily cohorts of the period: of the people who accepted the
    terms on a day, how many wrote to a persona exactly 1, 7 and 30 days later."""

    name: ClassVar[str] = "retention"
    period: Period
    cohorts: list[Cohort]

    def overall(self, offset: int) -> tuple[int, int]:
        """(retained, out of) over the cohorts whose day +offset has come."""
        done = [c for c in self.cohorts if c.retained.get(offset) is not None]
        return sum(c.retained[offset] or 0 for c in done), sum(c.size for c in done)

    def summary(self) -> list[Line]:
        lines = [Line("stats-cohort-size", str(sum(c.size for c in self.cohorts)))]
        for offset in RETENTION_DAYS:
            kept, base = self.overall(offset)
            lines.append(
                Line(f"stats-retention-d{offset}", f"{percent(kept, base)} ({kept}/{base})")
            )
        return lines

    def table(self) -> Table:
        rows = []
        for cohort in self.cohorts:
            cells = [cohort.day.isoformat(), str(cohort.size)]
            for offset in RETENTION_DAYS:
                kept = cohort.retained.get(offset)
                cells.append("…" if kept is None else percent(kept, cohort.size))
            rows.append(cells)
        headers = ["stats-col-day", "stats-cohort-size"]
        headers += [f"stats-retention-d{offset}" for offset in RETENTION_DAYS]
        return Table(headers, rows)


Report = (
    ActivityReport
    | FunnelReport
    | PopularityReport
    | PaywallReport
    | RevenueReport
    | SubscriptionsReport
    | RetentionReport
)

REPORTS = ("activity", "funnel", "personas", "paywall", "revenue", "subscriptions", "retention")
