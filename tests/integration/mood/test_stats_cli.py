"""`companion stats mood|survey` over a hand-counted world stored the way the product stores it
(readings sealed with the configured key, answers as the survey writes them)."""

from __future__ import annotations

import asyncio
import base64
import os
import re
from datetime import UTC, datetime
from typing import Any

import pytest
from pymongo.asynchronous.database import AsyncDatabase
from typer.testing import CliRunner, Result

from companion.cli import build_cli
from companion.mood.emotions import Emotion, EmotionReading
from companion.mood.store import MoodStore, StoredReading
from companion.storage import collections as c
from companion.storage.crypto import AesGcmCipher
from tests.conftest import REDIS_URL

KEY = os.urandom(32)
PERIOD = ["--since", "2026-11-30", "--until", "2026-12-06"]  # ISO week 2026-W49
JOY = EmotionReading(frozenset({Emotion.JOY}))
SAD = EmotionReading(frozenset({Emotion.SADNESS}))


def reading(user: int, day: int, what: EmotionReading, persona: str = "anna") -> StoredReading:
    return StoredReading(
        user_id=user,
        at=datetime(2026, 12, day, 12, tzinfo=UTC),
        day=f"2026-12-{day:02d}",
        persona_id=persona,
        module="support" if persona == "anna" else "practice",
        conversation_id=f"{user}-{persona}",
        reading=what,
    )


@pytest.fixture
async def world(mongo_db: AsyncDatabase[dict[str, Any]]) -> None:
    store = MoodStore(mongo_db, AesGcmCipher(KEY))
    await store.add_many(
        [
            # anna: people 1, 2, 3 -> 4 messages, 2 sad (50%), 1 joyful (25%).
            reading(1, 1, SAD),
            reading(1, 2, JOY),
            reading(2, 1, SAD),
            reading(3, 3, EmotionReading(frozenset({Emotion.NONE}))),
            # mark: 2 people only -> hidden.
            reading(1, 1, JOY, "mark"),
            reading(2, 1, JOY, "mark"),
            # After the period.
            reading(4, 9, SAD),
        ]
    )
    answers = [(8, "anna", 1), (10, "anna", 2), (6, "mark", 2), (None, "mark", 3), (7, "mark", 9)]
    await mongo_db[c.SURVEY_RESPONSES].insert_many(
        [
            {
                "user_id": n,
                "persona_id": p,
                "module": "x",
                "score": s,
                "at": datetime(2026, 12, d, tzinfo=UTC),
            }
            for n, (s, p, d) in enumerate(answers)
        ]
    )


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, mongo_uri: str, mongo_db: Any, redis_prefix: str) -> None:
    monkeypatch.setenv("COMPANION_MONGO__URI", mongo_uri)
    monkeypatch.setenv("COMPANION_MONGO__DATABASE", mongo_db.name)
    monkeypatch.setenv("COMPANION_REDIS__URL", REDIS_URL)
    monkeypatch.setenv("COMPANION_REDIS__KEY_PREFIX", redis_prefix)
    monkeypatch.setenv("COMPANION_PRIVACY__ENCRYPTION_KEY", base64.b64encode(KEY).decode())
    monkeypatch.setenv("COLUMNS", "200")


async def stats(*args: str) -> Result:
    # In a thread: the command runs its own event loop.
    return await asyncio.to_thread(CliRunner().invoke, build_cli(), ["stats", *args])


@pytest.mark.usefixtures("env", "world")
async def test_stats_mood_prints_only_large_enough_groups() -> None:
    result = await stats("mood", *PERIOD)
    assert result.exit_code == 0, result.output
    out = result.output
    assert "Mood by persona and module · 2026-11-30 … 2026-12-06" in out
    # Estimates: person 1 (sad + joy, 2 days) 5.5 + log2(3)/4 + 0.25 = 6.15, person 2 (sad)
    # 3.25, person 3 (none) 5.75 -> mean 5.05.
    assert re.search(
        r"persona anna\s*│\s*2026-W49\s*│\s*3\s*│\s*4\s*│\s*50\.0%\s*│\s*25\.0%\s*│\s*5\.05", out
    )
    assert re.search(r"module support\s*│\s*2026-W49\s*│\s*3\s*│", out)
    assert "mark" not in out and "practice" not in out
    assert "fewer than 3 people" in out


@pytest.mark.usefixtures("env", "world")
async def test_stats_survey_hand_counted() -> None:
    result = await stats("survey", *PERIOD)
    assert result.exit_code == 0, result.output
    out = result.output
    assert "Answers: 3 · skipped: 1 · with a comment: 0" in out
    assert "Mean: 8.00 (meets the target 7.5)" in out  # (8 + 10 + 6) / 3
    assert re.search(r"anna\s*│\s*2\s*│\s*9\.00", out)
    assert re.search(r"mark\s*│\s*1\s*│\s*6\.00", out)
    assert re.search(r"2026-W49\s*│\s*3\s*│\s*8\.00", out)
