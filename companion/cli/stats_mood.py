"""`companion stats mood` and `companion stats survey`: the owner's anonymous mood trends and
the satisfaction survey, the same numbers as the admin panel's "Mood & survey" section, for the
same kind of period as the other `companion stats` reports (`--days`, or `--since/--until`).

Registered on the `stats` group (`companion.cli.stats`) by `register(stats.app)`.
"""

from __future__ import annotations

from datetime import UTC, datetime

import typer
from pymongo.asynchronous.database import AsyncDatabase
from redis.asyncio import Redis
from rich.table import Table

from companion.cli.errors import fail
from companion.cli.stats import Days, Since, Until, period_from, stdout, with_database
from companion.config import Settings
from companion.mood.reports import GroupMood, MoodReports, SurveyStats
from companion.mood.store import MoodStore
from companion.mood.survey import SurveyService
from companion.storage.crypto import DecryptionError, EncryptionKeyError, load_cipher
from companion.storage.documents import Document


def _reports(db: AsyncDatabase[Document], settings: Settings) -> MoodReports:
    try:
        cipher = load_cipher(settings.privacy, settings.environment)
    except EncryptionKeyError as exc:
        fail(str(exc).splitlines()[0])
    store = MoodStore(db, cipher)

    def now() -> datetime:
        return datetime.now(UTC)

    survey = SurveyService(db, cipher, store, settings.survey, now)
    return MoodReports(store, survey, min_group_users=settings.mood_care.min_group_users, clock=now)


def mood(days: Days = 28, since: Since = None, until: Until = None) -> None:
    """Anonymous mood per persona and module per week, with the satisfaction estimate."""
    period = period_from(days, since, until)

    async def work(
        db: AsyncDatabase[Document], redis: Redis | None, settings: Settings
    ) -> tuple[list[GroupMood], int]:
        reports = _reports(db, settings)
        with stdout.status("Reading the mood of the period…"):
            return await reports.mood_between(period.since, period.until), reports.min_group_users

    try:
        groups, min_users = with_database(work)
    except DecryptionError as exc:
        fail(str(exc).splitlines()[0])
    table = Table(title=f"Mood by persona and module · {period.label()}")
    for column in ("Group", "Week", "People", "Messages", "Negative", "Joyful", "Satisfaction"):
        table.add_column(column, justify="left" if column in ("Group", "Week") else "right")
    for g in groups:
        table.add_row(
            f"{g.kind} {g.key}",
            g.week,
            str(g.users),
            str(g.messages),
            f"{g.negative_share:.1%}",
            f"{g.positive_share:.1%}",
            f"{g.satisfaction:.2f}",
        )
    stdout.print(table)
    stdout.print(f"Groups with fewer than {min_users} people are not shown (anonymity).")


def survey(days: Days = 180, since: Since = None, until: Until = None) -> None:
    """The 1-10 survey: mean against the target, distribution, by persona, by week."""
    period = period_from(days, since, until)

    async def work(db: AsyncDatabase[Document], redis: Redis | None, s: Settings) -> SurveyStats:
        with stdout.status("Reading the survey answers…"):
            return await _reports(db, s).survey_between(period.since, period.until)

    stats = with_database(work)
    stdout.print(f"Satisfaction survey · {period.label()}")
    stdout.print(
        f"Answers: {stats.answers} · skipped: {stats.skipped} · with a comment: {stats.comments}"
    )
    if stats.mean is None:
        stdout.print(f"No answers yet (target {stats.target:.1f}).")
        return
    verdict = "meets" if stats.meets_target else "below"
    stdout.print(f"Mean: {stats.mean:.2f} ({verdict} the target {stats.target:.1f})")
    distribution = Table(title="Distribution")
    for score in stats.distribution:
        distribution.add_column(str(score), justify="right")
    distribution.add_row(*(str(n) for n in stats.distribution.values()))
    stdout.print(distribution)
    for title, groups in (("By persona", stats.by_persona), ("By week", stats.by_week)):
        table = Table(title=title)
        for column in ("", "Answers", "Mean"):
            table.add_column(column, justify="left" if not column else "right")
        for g in groups:
            table.add_row(g.key, str(g.answers), f"{g.mean:.2f}")
        stdout.print(table)


def register(stats_app: typer.Typer) -> None:
    stats_app.command("mood")(mood)
    stats_app.command("survey")(survey)
