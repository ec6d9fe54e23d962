"""Greetings that suit the user's time of day, in the user's time zone.

Cards keep plain greeting lists; a greeting that names a time of day ("Доброй ночи… или
утра?", "Good evening") is offered only when it is that time for the user, so nobody is wished
a good night at 14:40. Greetings that name no time fit always. The user's zone is
`user.settings.timezone` when set, else inferred from the language (ru: Europe/Moscow), else UTC.
"""

from __future__ import annotations

import random
import re
from datetime import UTC, datetime, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from companion.domain.personas import Persona

LANGUAGE_TIMEZONES = {"ru": "Europe/Moscow"}
DEFAULT_TIMEZONE = "UTC"

# Word stems that tie a greeting to a part of the day.
_MARKERS: dict[str, re.Pattern[str]] = {
    "morning": re.compile(r"\b(утр|morning|рассвет|dawn)", re.IGNORECASE),
    "day": re.compile(r"\b(добрый день|good afternoon|обед|lunch)", re.IGNORECASE),
    "evening": re.compile(r"\b(вечер|evening)", re.IGNORECASE),
    "night": re.compile(r"\b(ноч|night|не спится|can't sleep|insomnia|бессон)", re.IGNORECASE),
}


def user_timezone(timezone: str | None, language: str) -> tzinfo:
    """The user's zone: the stored one if valid, else by language, else UTC."""
    for name in (timezone, LANGUAGE_TIMEZONES.get(language), DEFAULT_TIMEZONE):
        if not name:
            continue
        try:
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            continue
    return UTC


def valid_timezone(name: str) -> str | None:
    """`name` when it is an IANA zone this system knows ("Europe/Berlin"), else None."""
    name = name.strip()
    if not name or len(name) > 64 or name.startswith(("/", ".")) or ".." in name:
        return None
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None
    return name


def daypart(local: datetime) -> str:
    hour = local.hour
    if 5 <= hour < 12:
        return "morning"
    if 12 <= hour < 18:
        return "day"
    if 18 <= hour < 23:
        return "evening"
    return "night"


def dayparts_named(text: str) -> set[str]:
    """The parts of the day a greeting names (empty: it fits any time)."""
    return {part for part, pattern in _MARKERS.items() if pattern.search(text)}


def pick_greeting(
    persona: Persona,
    language: str,
    *,
    now: datetime,
    timezone: str | None = None,
    rng: random.Random | None = None,
) -> str:
    """A random greeting among those that fit the user's local time of day."""
    options = persona.greetings.get(language) or next(iter(persona.greetings.values()))
    part = daypart(now.astimezone(user_timezone(timezone, language)))
    fitting = [text for text in options if not (named := dayparts_named(text)) or part in named]
    return (rng or random).choice(fitting or options)
