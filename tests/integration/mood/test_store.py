"""The mood state's sealed day counts and claims, over a real MongoDB-wire server."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase

from companion.mood.store import MoodStore
from companion.storage import collections as c
from companion.storage.crypto import AesGcmCipher

NOW = datetime(2026, 12, 1, 12, tzinfo=UTC)


async def test_day_counts_add_up_under_concurrent_writers_and_are_sealed(
    mongo_db: AsyncDatabase[dict[str, Any]],
) -> None:
    store = MoodStore(mongo_db, AesGcmCipher(b"k" * 32))
    # Ten writers at once (as several workers would), each one message on 12-01.
    await asyncio.gather(
        *(store.add_day_counts(1, {"2026-12-01": (1, 1, 0)}, "2026-11-24") for _ in range(10))
    )
    assert await store.day_counts(1) == {"2026-12-01": (10, 10, 0)}
    # Days before `keep_from` go.
    await store.add_day_counts(1, {"2026-12-09": (2, 0, 1)}, "2026-12-02")
    assert await store.day_counts(1) == {"2026-12-09": (2, 0, 1)}
    raw = await mongo_db[c.MOOD_STATE].find_one({"_id": 1})
    assert isinstance(raw["days"], bytes) and b"2026-12-09" not in raw["days"]
    await store.clear_day_counts(1)
    assert await store.day_counts(1) == {}


async def test_claims_are_once_per_period(mongo_db: AsyncDatabase[dict[str, Any]]) -> None:
    store = MoodStore(mongo_db, AesGcmCipher(b"k" * 32))
    await store.note_day(2, "2026-12-01")
    week_ago = NOW - timedelta(days=7)
    results = await asyncio.gather(
        *(store.claim(2, "survey_shown_at", NOW, week_ago) for _ in range(5))
    )
    assert sorted(results) == [False, False, False, False, True]
    assert not await store.claim(2, "survey_shown_at", NOW + timedelta(days=6), week_ago)
    later = NOW + timedelta(days=8)
    assert await store.claim(2, "survey_shown_at", later, later - timedelta(days=7))
    # Days with messages are counted once each.
    for day in ("2026-12-01", "2026-12-01", "2026-12-02"):
        state = await store.note_day(2, day)
    assert state.active_days == 2 and state.last_day == "2026-12-02"
