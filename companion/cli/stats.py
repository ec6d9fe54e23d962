"""`companion stats ...`: the owner's reports in the terminal, as rich tables, with the charts
written as PNG files on request (`--charts DIR`). The same reports as the admin panel's Stats
section (`companion.analytics`), for the same kind of period: `--days N` up to today (UTC), or
`--since` / `--until` (days, both included).

Other modules add their own reports to this group: `stats.app.command("mood")(their_command)`,
using `period_from` and `with_database` from here; `companion.cli.build_cli` imports them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Annotated, TypeVar

import typer
from pymongo.asynchronous.database import AsyncDatabase
from redis.asyncio import Redis
from rich.console import Console
from rich.table import Table

from companion.analytics.period import Period
from companion.analytics.reports import REPORTS, Report
from companion.analytics.service import AnalyticsService
from companion.cli.errors import fail, settings_or_exit
from companion.config import Settings
from companion.i18n import Translator
from companion.personas.repository import PersonaRepository, packaged_library_dir
from companion.storage.database import DatabaseUnavailableError, open_database
from companion.storage.documents import Document
from companion.storage.redis import RedisUnavailableError, create_redis

T = TypeVar("T")

app = typer.Typer(
    name="stats",
    help="The owner's reports: activity, funnel, personas, paywall, revenue, PRO, retention.",
    no_args_is_help=True,
    add_completion=False,
)
stdout = Console(highlight=False, soft_wrap=True)

Days = Annotated[
    int, typer.Option("--days", min=1, max=3660, help="The last N days, today included")
]
Since = Annotated[str | None, typer.Option("--since", help="First day, YYYY-MM-DD (UTC)")]
Until = Annotated[str | None, typer.Option("--until", help="Last day, YYYY-MM-DD, included")]
Charts = Annotated[
    Path | None, typer.Option("--charts", help="Write each report's chart here as a PNG")
]
Raw = Annotated[
    bool,
    typer.Option(
        "--raw", help="Count from the raw events and messages, not the daily rollups (slow)"
    ),
]


@app.callback()
def stats() -> None:
    """The owner's reports: activity, funnel, personas, paywall, revenue, PRO, retention."""


def period_from(days: int, since: str | None, until: str | None) -> Period:
    """`--since/--until` when given (a missing end is today; a missing start is `days` before
    the end), else the last `days` days."""
    if since is None and until is None:
        return Period.last_days(days)
    try:
        last = date.fromisoformat(until) if until else datetime.now(UTC).date()
        first = (
            date.fromisoformat(since) if since else last.fromordinal(last.toordinal() - days + 1)
        )
        return Period.between(first, last)
    except ValueError as exc:
        fail(f"invalid period: {exc}")


def with_database(
    work: Callable[[AsyncDatabase[Document], Redis | None, Settings], Awaitable[T]],
) -> T:
    """Run `work` with the database and Redis (None, with a warning, when Redis is down)."""
    settings = settings_or_exit()

    async def run() -> T:
        database = await open_database(settings)
        redis: Redis | None = None
        try:
            try:
                redis = await create_redis(settings.redis)
            except RedisUnavailableError as exc:
                stdout.print(f"[yellow]warning:[/yellow] {exc}; anonymous funnel steps show 0")
            return await work(database.db, redis, settings)
        finally:
            if redis is not None:
                await redis.aclose()
            await database.aclose()

    try:
        return asyncio.run(run())
    except DatabaseUnavailableError as exc:
        fail(str(exc))


def _show(report: Report, texts: Translator) -> None:
    def say(key: str, subject: str = "") -> str:
        return texts.get("en", key, subject=subject) if key.startswith("stats-") else key

    title = f"{say(f'stats-report-{report.name}')} · {report.period.label()}"
    summary = Table(title=title, show_header=False, title_justify="left")
    summary.add_column(style="bold")
    summary.add_column(justify="right")
    for line in report.summary():
        summary.add_row(say(line.key, line.subject), line.value)
    stdout.print(summary)
    detail = report.table()
    if detail.rows:
        table = Table(*(say(header) for header in detail.headers))
        for row in detail.rows:
            table.add_row(*(say(cell) for cell in row))
        stdout.print(table)


def _print_reports(
    names: list[str], period: Period, charts: Path | None, *, raw: bool = False
) -> None:
    if charts is not None:
        charts.mkdir(parents=True, exist_ok=True)

    async def work(db: AsyncDatabase[Document], redis: Redis | None, settings: Settings) -> None:
        personas = PersonaRepository(settings.personas.directory or packaged_library_dir())
        personas.load_all()
        analytics = AnalyticsService.build(db, personas, redis, settings, raw=raw)
        texts = Translator()
        for name in names:
            with stdout.status(f"computing {name}…"):
                report = await analytics.report(name, period)
            _show(report, texts)
            if charts is not None:
                from companion.analytics.charts import render_async  # matplotlib: only here

                path = charts / f"{name}-{period.days[0]}-{period.days[-1]}.png"
                path.write_bytes(await render_async(report))
                stdout.print(f"chart: {path}")

    with_database(work)


def _command(name: str, doc: str) -> None:
    def command(
        days: Days = 7,
        since: Since = None,
        until: Until = None,
        charts: Charts = None,
        raw: Raw = False,
    ) -> None:
        _print_reports([name], period_from(days, since, until), charts, raw=raw)

    command.__doc__ = doc
    app.command(name)(command)


_command("activity", "New users, DAU/WAU/MAU, messages and voice notes per day.")
_command("funnel", "Onboarding: /start → language → consent → persona → 1st → 10th message.")
_command("personas", "Personas and modules by the people who wrote to them and their messages.")
_command("paywall", "Paywall views → checkouts → payments, with conversion.")
_command("revenue", "Succeeded payments by provider and currency, refunds, net.")
_command("subscriptions", "Active PRO, new PRO, renewals and churn.")
_command("retention", "D1/D7/D30 retention of the daily cohorts (accepted the terms on).")


@app.command("all")
def all_reports(
    days: Days = 7,
    since: Since = None,
    until: Until = None,
    charts: Charts = None,
    raw: Raw = False,
) -> None:
    """Every report, one after another."""
    _print_reports(list(REPORTS), period_from(days, since, until), charts, raw=raw)


@app.command("rebuild")
def rebuild(days: Days = 7, since: Since = None, until: Until = None) -> None:
    """Drop the kept daily rollups of the period: the next report counts those days again from
    the raw events and messages (after events were imported or stamped late into a past day)."""
    period = period_from(days, since, until)

    async def work(db: AsyncDatabase[Document], redis: Redis | None, settings: Settings) -> int:
        personas = PersonaRepository(packaged_library_dir())  # not read by a rebuild
        analytics = AnalyticsService.build(db, personas, redis, settings)
        return await analytics.rebuild(period.days[0], period.days[-1])

    dropped = with_database(work)
    stdout.print(
        f"dropped {dropped} kept day(s) of {period.label()}; the next report recounts them"
    )
