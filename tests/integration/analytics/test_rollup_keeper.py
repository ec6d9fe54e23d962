"""`RollupKeeper`: the background round keeps every closed day of the last N days, one worker
per round (a Redis lock), and the reports read the kept days afterwards with the raw numbers.
Real SecantusDB and Redis."""

from __future__ import annotations

import asyncio
import os
from datetime import date, datetime, time, timedelta
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase
from redis.asyncio import Redis

from companion.analytics.keeper import RollupKeeper
from companion.analytics.service import AnalyticsService
from companion.personas.repository import PersonaRepository
from companion.storage import collections as c
from companion.storage.crypto import AesGcmCipher
from tests.integration.analytics.test_people_rollups import NOW, assert_same, random_world


def _closes(day: str, through: datetime) -> bool:
    """Whether a kept day was counted up to its end (the next midnight)."""
    end = datetime.combine(date.fromisoformat(day) + timedelta(days=1), time())
    return through.replace(tzinfo=None) == end


def _analytics(
    db: AsyncDatabase[Any], personas: PersonaRepository, cipher: AesGcmCipher, *, raw: bool
) -> AnalyticsService:
    return AnalyticsService(
        db, personas, redis=None, key_prefix="x", clock=lambda: NOW, cipher=cipher, raw=raw
    )


async def test_a_round_keeps_every_closed_day_once_per_round(
    mongo_db: AsyncDatabase[Any],
    personas: PersonaRepository,
    redis_client: Redis,
    redis_prefix: str,
) -> None:
    await random_world(mongo_db, 5)
    cipher = AesGcmCipher(os.urandom(32))
    rolled = _analytics(mongo_db, personas, cipher, raw=False)

    def keeper() -> RollupKeeper:
        return RollupKeeper(rolled, redis_client, key_prefix=redis_prefix, days=61)

    assert await keeper().run_once()
    kept = [doc async for doc in mongo_db[c.ANALYTICS_PEOPLE].find({}, {"day": 1, "through": 1})]
    closed = {doc["day"] for doc in kept if _closes(doc["day"], doc["through"])}
    first = NOW.date() - timedelta(days=60)
    days = {str(first + timedelta(days=i)) for i in range(60)}  # the closed ones; today is open
    assert days <= closed
    # Another worker in the same round does nothing; the lock's expiry lets the next round in.
    assert not await keeper().run_once()
    await redis_client.delete(f"{redis_prefix}analytics:keeper")
    assert await keeper().run_once()
    assert await mongo_db[c.ANALYTICS_PEOPLE].count_documents({}) == len(kept)
    # What the owner reads afterwards equals the raw collections' count.
    await assert_same(_analytics(mongo_db, personas, cipher, raw=True), rolled)


async def test_the_loop_runs_in_the_background_and_stops_at_once(
    mongo_db: AsyncDatabase[Any],
    personas: PersonaRepository,
) -> None:
    await random_world(mongo_db, 6, people=20)
    rolled = _analytics(mongo_db, personas, AesGcmCipher(os.urandom(32)), raw=False)
    keeper = RollupKeeper(
        rolled, None, key_prefix="x", days=7, interval_s=3600.0, first_delay_s=0.0
    )
    keeper.start()
    assert keeper.running
    for _ in range(200):
        if await mongo_db[c.ANALYTICS_PEOPLE].count_documents({"day": str(date(2026, 11, 24))}):
            break
        await asyncio.sleep(0.05)
    else:
        raise AssertionError("the first round kept nothing")
    await asyncio.wait_for(keeper.stop(), 2)  # asleep until the next round: cancelled at once
    assert not keeper.running


async def test_no_keeping_when_turned_off(
    mongo_db: AsyncDatabase[Any], personas: PersonaRepository
) -> None:
    rolled = _analytics(mongo_db, personas, AesGcmCipher(os.urandom(32)), raw=False)
    keeper = RollupKeeper(rolled, None, key_prefix="x", days=0, first_delay_s=0.0)
    keeper.start()
    assert not keeper.running
    await keeper.stop()
