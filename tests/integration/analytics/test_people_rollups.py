"""The daily sets of people (`companion.analytics.people`) against the raw aggregation: the
same reports on a random world (cold and warm, with an open day), after an erasure, after a
late event (once its day is rebuilt) and after a key rotation. Real SecantusDB."""

from __future__ import annotations

import os
import random
from datetime import UTC, date, datetime, timedelta
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase

from companion.analytics.period import Period
from companion.analytics.reports import REPORTS
from companion.analytics.service import AnalyticsService
from companion.personas.repository import PersonaRepository
from companion.storage import collections as c
from companion.storage.crypto import AesGcmCipher
from companion.storage.indexes import ensure_indexes
from companion.storage.people_sets import Pseudonyms
from companion.storage.user_data import UserDataService
from tests.integration.analytics.conftest import event, message

NOW = datetime(2026, 11, 30, 15, 20, tzinfo=UTC)  # 11-30 is the open day
FIRST = datetime(2026, 10, 1, tzinfo=UTC)
NAMES = [
    "consent",
    "persona_chosen",
    "first_message",
    "tenth_message",
    "paywall_shown",
    "payment_created",
    "paid",
    "renewed",
]
PERSONAS = ["leo", "kylie", "mark", "dasha", "ghost"]  # ghost: not in the library
PERIODS = [
    Period.last_days(1, now=NOW),
    Period.last_days(7, now=NOW),
    Period.last_days(30, now=NOW),
    Period.last_days(61, now=NOW),
    Period.between(date(2026, 10, 3), date(2026, 10, 20)),
    Period.between(date(2026, 11, 25), date(2026, 12, 2)),  # into days to come
]


def _when(rng: random.Random) -> datetime:
    return FIRST + timedelta(seconds=rng.random() * (NOW - FIRST).total_seconds())


async def random_world(db: AsyncDatabase[Any], seed: int, people: int = 80) -> list[int]:
    """People with Telegram-sized ids; a few consent twice; events and messages at random."""
    rng = random.Random(seed)
    ids = rng.sample(range(10**8, 10**12), people)
    events = [event(u, "consent", _when(rng)) for u in ids]
    events += [event(u, "consent", _when(rng)) for u in ids[:5]]
    events += [event(rng.choice(ids), rng.choice(NAMES), _when(rng)) for _ in range(900)]
    messages = [
        message(
            rng.choice(ids),
            rng.choice(PERSONAS),
            _when(rng),
            role=rng.choice(["user", "user", "assistant"]),
            source="voice" if rng.random() < 0.1 else "text",
        )
        for _ in range(900)
    ]
    await ensure_indexes(db)
    await db[c.EVENTS].insert_many(events)
    await db[c.MESSAGES].insert_many(messages)
    return ids


def _services(
    db: AsyncDatabase[Any], personas: PersonaRepository, cipher: AesGcmCipher
) -> tuple[AnalyticsService, AnalyticsService]:
    common: dict[str, Any] = {"redis": None, "key_prefix": "x", "clock": lambda: NOW}
    raw = AnalyticsService(db, personas, cipher=cipher, raw=True, **common)
    return raw, AnalyticsService(db, personas, cipher=cipher, **common)


async def assert_same(
    raw: AnalyticsService, rolled: AnalyticsService, names: tuple[str, ...] = REPORTS
) -> None:
    for period in PERIODS:
        for name in names:
            assert await rolled.report(name, period) == await raw.report(name, period), (
                name,
                period.label(),
            )


async def test_rollups_equal_raw_on_a_random_world(
    mongo_db: AsyncDatabase[Any], personas: PersonaRepository
) -> None:
    for seed in (1, 2):
        await mongo_db[c.EVENTS].delete_many({})
        await mongo_db[c.MESSAGES].delete_many({})
        await mongo_db[c.ANALYTICS_PEOPLE].delete_many({})
        await random_world(mongo_db, seed)
        raw, rolled = _services(mongo_db, personas, AesGcmCipher(os.urandom(32)))
        await assert_same(raw, rolled)  # cold: the closed days are computed and kept
        kept = await mongo_db[c.ANALYTICS_PEOPLE].count_documents({})
        assert kept > 0
        today = [doc async for doc in mongo_db[c.ANALYTICS_PEOPLE].find({"day": "2026-11-30"})]
        assert {doc["through"] for doc in today} == {NOW - timedelta(minutes=10)}  # open: partly
        await assert_same(raw, rolled)  # warm: read back
        assert await mongo_db[c.ANALYTICS_PEOPLE].count_documents({}) == kept


async def test_the_kept_days_hold_pseudonyms_not_ids(
    mongo_db: AsyncDatabase[Any], personas: PersonaRepository
) -> None:
    ids = await random_world(mongo_db, 3)
    _, rolled = _services(mongo_db, personas, AesGcmCipher(os.urandom(32)))
    await rolled.report("funnel", Period.last_days(61, now=NOW))
    await rolled.report("personas", Period.last_days(61, now=NOW))
    kept = [doc async for doc in mongo_db[c.ANALYTICS_PEOPLE].find()]
    dump = b"".join(bytes(g["people"]) for doc in kept for g in doc["groups"])
    assert len(dump) >= 8 * len(ids)
    for user in ids:
        assert user.to_bytes(8, "little") not in dump
        assert str(user).encode() not in dump


def test_pseudonyms_are_a_keyed_permutation() -> None:
    one = Pseudonyms(AesGcmCipher(os.urandom(32)).pseudonym)
    other = Pseudonyms(AesGcmCipher(os.urandom(32)).pseudonym)
    ids = [*range(1, 50_001), 2**40 + 7, 10**12 - 1, 7_391_184_025]
    assert len({one(user) for user in ids}) == len(ids)  # never shared: counts stay exact
    assert all(0 <= one(user) < 2**64 for user in ids[:100])
    assert sum(one(user) == other(user) for user in ids[:1000]) == 0
    assert one.key_id != other.key_id


async def test_an_erasure_takes_the_person_out_of_the_kept_days(
    mongo_db: AsyncDatabase[Any], personas: PersonaRepository
) -> None:
    ids = await random_world(mongo_db, 4)
    cipher = AesGcmCipher(os.urandom(32))
    raw, rolled = _services(mongo_db, personas, cipher)
    await assert_same(raw, rolled)
    writers = [m async for m in mongo_db[c.MESSAGES].find({"role": "user"})]
    busiest = max(ids, key=lambda u: sum(m["user_id"] == u for m in writers))
    before = await rolled.report("personas", Period.last_days(61, now=NOW))
    counts = await UserDataService(mongo_db, cipher).erase(busiest)
    assert counts[c.ANALYTICS_PEOPLE] > 0
    after = await rolled.report("personas", Period.last_days(61, now=NOW))
    assert after != before
    await assert_same(raw, rolled)


async def test_a_late_event_counts_once_its_day_is_rebuilt(
    mongo_db: AsyncDatabase[Any], personas: PersonaRepository
) -> None:
    await random_world(mongo_db, 5)
    raw, rolled = _services(mongo_db, personas, AesGcmCipher(os.urandom(32)))
    period = Period.last_days(30, now=NOW)
    kept = await rolled.report("paywall", period)
    late = datetime(2026, 11, 10, 23, 59, tzinfo=UTC)
    await mongo_db[c.EVENTS].insert_one(event(555, "paywall_shown", late))
    # A closed day is read from what was kept: the late event is not counted...
    assert await rolled.report("paywall", period) == kept
    assert await raw.report("paywall", period) != kept
    # ...until the day is rebuilt.
    assert await rolled.rebuild(date(2026, 11, 10), date(2026, 11, 10)) > 0
    assert await rolled.report("paywall", period) == await raw.report("paywall", period)


async def test_the_open_day_is_counted_live(
    mongo_db: AsyncDatabase[Any], personas: PersonaRepository
) -> None:
    await random_world(mongo_db, 6)
    raw, rolled = _services(mongo_db, personas, AesGcmCipher(os.urandom(32)))
    period = Period.last_days(7, now=NOW)
    first = await rolled.report("funnel", period)
    await mongo_db[c.EVENTS].insert_many(
        [event(777, "consent", NOW - timedelta(minutes=5)), event(777, "persona_chosen", NOW)]
    )
    again = await rolled.report("funnel", period)
    assert again != first and again == await raw.report("funnel", period)


async def test_another_key_computes_the_days_again(
    mongo_db: AsyncDatabase[Any], personas: PersonaRepository
) -> None:
    await random_world(mongo_db, 7)
    old_raw, old = _services(mongo_db, personas, AesGcmCipher(os.urandom(32)))
    await assert_same(old_raw, old)
    new_cipher = AesGcmCipher(os.urandom(32))
    raw, rolled = _services(mongo_db, personas, new_cipher)
    await assert_same(raw, rolled)
    key = Pseudonyms(new_cipher.pseudonym).key_id
    assert await mongo_db[c.ANALYTICS_PEOPLE].count_documents({"key": {"$ne": key}}) == 0


async def test_the_open_day_is_kept_up_to_ten_minutes_ago(
    mongo_db: AsyncDatabase[Any], personas: PersonaRepository
) -> None:
    await random_world(mongo_db, 8)
    clock = [NOW]
    cipher = AesGcmCipher(os.urandom(32))
    common: dict[str, Any] = {"redis": None, "key_prefix": "x", "clock": lambda: clock[0]}
    raw = AnalyticsService(mongo_db, personas, cipher=cipher, raw=True, **common)
    rolled = AnalyticsService(mongo_db, personas, cipher=cipher, **common)
    period = Period.last_days(7, now=NOW)
    assert await rolled.report("personas", period) == await raw.report("personas", period)
    today = await mongo_db[c.ANALYTICS_PEOPLE].find_one({"_id": "messages:2026-11-30"})
    assert today is not None and today["through"] == NOW - timedelta(minutes=10)
    # Messages stamped after the watermark (one by a clock a little behind), then an hour on.
    await mongo_db[c.MESSAGES].insert_many(
        [
            message(1, "leo", NOW - timedelta(minutes=3)),
            message(2, "kylie", NOW + timedelta(minutes=30)),
            message(2, "kylie", NOW + timedelta(minutes=58)),
        ]
    )
    clock[0] = NOW + timedelta(hours=1)
    for name in ("personas", "retention", "funnel"):
        assert await rolled.report(name, period) == await raw.report(name, period), name
    today = await mongo_db[c.ANALYTICS_PEOPLE].find_one({"_id": "messages:2026-11-30"})
    assert today is not None and today["through"] == NOW + timedelta(minutes=50)
    # A message stamped before the watermark but stored after it is late: not counted until
    # the day is rebuilt.
    kept = await rolled.report("personas", period)
    await mongo_db[c.MESSAGES].insert_one(message(3, "mark", NOW + timedelta(minutes=20)))
    assert await rolled.report("personas", period) == kept != await raw.report("personas", period)
    await rolled.rebuild(date(2026, 11, 30), date(2026, 11, 30))
    assert await rolled.report("personas", period) == await raw.report("personas", period)
