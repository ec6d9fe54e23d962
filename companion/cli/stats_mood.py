"""`companion stats mood` and `companion stats survey`: the owner's anonymous mood trends and
the satisfaction survey, as the admin section shows them (`companion.mood.admin_view`).

Registered on the `stats` group (`companion.cli.stats`) with `register(stats_app)`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Annotated, TypeVar

import typer
from pymongo.errors import PyMongoError
from rich.console import Console

from companion.cli.errors import fail, settings_or_exit
from companion.config import Settings
from companion.i18n import Translator
from companion.mood.admin_view import mood_lines, survey_lines
from companion.mood.reports import MoodReports
from companion.mood.store import MoodStore
from companion.mood.survey import SurveyService
from companion.storage.crypto import DecryptionError, EncryptionKeyError, load_cipher
from companion.storage.database import DatabaseUnavailableError, open_database

T = TypeVar("T")
stdout = Console(highlight=False, soft_wrap=True)
DaysOption = Annotated[int, typer.Option("--days", min=1, max=3660, help="Period, in days")]
LangOption = Annotated[str, typer.Option("--lang", help="Language of the labels: ru or en")]


def _reports(settings: Settings, work: Callable[[MoodReports], Awaitable[T]]) -> T:
    async def run() -> T:
        cipher = load_cipher(settings.privacy, settings.environment)
        database = await open_database(settings)
        try:
            store = MoodStore(database.db, cipher)

            def now() -> datetime:
                return datetime.now(UTC)

            survey = SurveyService(database.db, cipher, store, settings.survey, now)
            reports = MoodReports(
                store, survey, min_group_users=settings.mood_care.min_group_users, clock=now
            )
            with stdout.status("Reading the period…"):
                return await work(reports)
        finally:
            await database.aclose()

    try:
        return asyncio.run(run())
    except (DatabaseUnavailableError, EncryptionKeyError, DecryptionError) as exc:
        fail(str(exc).splitlines()[0])
    except PyMongoError as exc:
        fail(f"database error: {str(exc).splitlines()[0]}")


def _print(lines: list[str]) -> None:
    for line in lines:
        # The texts are Telegram HTML; the terminal gets them plain.
        stdout.print(line.replace("<b>", "").replace("</b>", ""), markup=False)


def mood(days: DaysOption = 28, lang: LangOption = "en") -> None:
    """Anonymous mood by persona and module per week, with the satisfaction estimate."""
    settings = settings_or_exit()
    translator = Translator()
    groups = _reports(settings, lambda reports: reports.mood(days))
    text = translator.get
    _print(
        mood_lines(
            lambda key, **a: text(lang, key, **a),
            groups,
            min_users=settings.mood_care.min_group_users,
        )
    )


def survey(days: DaysOption = 180, lang: LangOption = "en") -> None:
    """The 1-10 survey: mean against the target, distribution, by persona, by week."""
    settings = settings_or_exit()
    translator = Translator()
    stats = _reports(settings, lambda reports: reports.survey(days))
    _print(survey_lines(lambda key, **a: translator.get(lang, key, **a), stats))


def register(stats_app: typer.Typer) -> None:
    stats_app.command("mood")(mood)
    stats_app.command("survey")(survey)
