"""Greetings that name a time of day are offered only at that time, in the user's zone."""

from __future__ import annotations

import random
from datetime import UTC, datetime

from companion.domain.personas import Persona
from companion.personas.dayparts import pick_greeting, user_timezone

NIGHT = "Доброй ночи… или утра? 🌙 Если не спится — давай просто поговорим."
PLAIN = "Привет. Я тут, никуда не спешу."


def _card() -> Persona:
    return Persona.model_validate(
        {
            "id": "leo",
            "name": "Лев",
            "module": "support",
            "languages": ["ru", "en"],
            "preview": "x",
            "description": "x",
            "personality": "x",
            "speaking_style": "x",
            "scenario": "x",
            "greetings": {"ru": [NIGHT, PLAIN], "en": ["Good evening!", "Hi!"]},
        }
    )


def _picks(now: datetime, language: str = "ru", timezone: str | None = None) -> set[str]:
    rng = random.Random(1)
    return {
        pick_greeting(_card(), language, now=now, timezone=timezone, rng=rng) for _ in range(50)
    }


def test_no_good_night_in_the_afternoon() -> None:
    # 14:40 UTC is 17:40 in Moscow (the default zone for Russian): day.
    assert _picks(datetime(2026, 12, 5, 14, 40, tzinfo=UTC)) == {PLAIN}


def test_good_night_at_night_in_the_users_zone() -> None:
    # 21:30 UTC is 00:30 in Moscow: the night greeting is among the choices.
    assert NIGHT in _picks(datetime(2026, 12, 5, 21, 30, tzinfo=UTC))
    # The same instant is 13:30 in Los Angeles, for a user who set that zone: not night.
    at = datetime(2026, 12, 5, 21, 30, tzinfo=UTC)
    assert _picks(at, timezone="America/Los_Angeles") == {PLAIN}


def test_zone_defaults() -> None:
    assert str(user_timezone(None, "ru")) == "Europe/Moscow"
    assert str(user_timezone(None, "en")) == "UTC"
    assert str(user_timezone("Not/AZone", "ru")) == "Europe/Moscow"
