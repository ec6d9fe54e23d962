"""The services behind the owner's console, against real MongoDB-wire and Redis: finding a
person by id or sealed @username, their card (no message text), payment lines from the real
ledger, error counts per hour and day, and the developer view's health and persona reload."""

from __future__ import annotations

import asyncio
import logging
import os
import threading
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from pymongo.asynchronous.database import AsyncDatabase
from redis.asyncio import Redis

from companion.analytics.error_log import DAY_S, HOUR_S, ErrorLog, ErrorLogHandler
from companion.analytics.health import HealthReport, speech_check
from companion.analytics.user_lookup import (
    InvalidQueryError,
    MessageActivity,
    UserLookup,
    UserQuery,
    looks_like_query,
    parse_query,
)
from companion.billing.history import LedgerHistory
from companion.billing.ledger import PaymentLedger
from companion.billing.records import PaymentRecord, PaymentStatus, Provider
from companion.domain.models import MessageRole, Subscription, SubscriptionStatus, User
from companion.personas.repository import PersonaRepository
from companion.storage import collections as c
from companion.storage.conversations import ConversationRepository
from companion.storage.crypto import AesGcmCipher
from companion.storage.messages import MessageRepository
from companion.storage.reencrypt import reencrypt
from companion.storage.subscriptions import SubscriptionRepository
from companion.storage.users import UserRepository
from tests.e2e.bot.conftest import write_personas

Db = AsyncDatabase[dict[str, Any]]
NOW = datetime(2026, 12, 5, 12, tzinfo=UTC)


@pytest.fixture
def cipher() -> AesGcmCipher:
    return AesGcmCipher(os.urandom(32))


# --- the query ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("42", UserQuery(user_id=42)),
        (" 123456789 ", UserQuery(user_id=123456789)),
        ("@Anna_K", UserQuery(username="Anna_K")),
        ("anna_k", UserQuery(username="anna_k")),
        ("https://t.me/anna_k", UserQuery(username="anna_k")),
        ("t.me/anna_k", UserQuery(username="anna_k")),
    ],
)
def test_a_query_is_an_id_or_a_username(text: str, expected: UserQuery) -> None:
    assert parse_query(text) == expected


@pytest.mark.parametrize(
    "text", ["", "   ", "0", "@", "@ab", "who is it?", "@anna k", "-5", "1" * 20, "@" + "a" * 33]
)
def test_anything_else_is_refused(text: str) -> None:
    with pytest.raises(InvalidQueryError):
        parse_query(text)


# --- the @username blind index -----------------------------------------------------------------


async def test_a_sealed_username_is_found_in_any_case_and_follows_renames(
    mongo_db: Db, cipher: AesGcmCipher
) -> None:
    users = UserRepository(mongo_db, cipher)
    await users.upsert(User(id=7, username="Anna_K", first_name="Anna"))
    stored = await mongo_db[c.USERS].find_one({"_id": 7})
    assert stored is not None and isinstance(stored["username"], bytes)  # sealed at rest
    assert "anna" not in str(stored["username_key"]).lower()

    for query in ("anna_k", "@ANNA_K", "Anna_K"):
        found = await users.find_by_username(query)
        assert found is not None and found.id == 7
    assert await users.find_by_username("anna") is None

    await users.update(7, username="anna_new")
    assert await users.find_by_username("anna_k") is None
    renamed = await users.find_by_username("@anna_new")
    assert renamed is not None and renamed.id == 7


async def test_profiles_stored_before_the_index_are_found_too(
    mongo_db: Db, cipher: AesGcmCipher
) -> None:
    # As written by an older release: a sealed username, no username_key.
    await mongo_db[c.USERS].insert_one(
        {"_id": 8, "language": "ru", "username": cipher.encrypt("OldTimer"), "settings": {}}
    )
    await mongo_db[c.USERS].insert_one({"_id": 9, "language": "ru", "username": None})
    users = UserRepository(mongo_db, cipher)
    found = await users.find_by_username("oldtimer")
    assert found is not None and found.id == 8
    indexed = await mongo_db[c.USERS].find_one({"_id": 8})
    assert indexed is not None and indexed["username_key"] == cipher.fingerprint("oldtimer")


# --- the card ----------------------------------------------------------------------------------


async def _chat(db: Db, cipher: AesGcmCipher, user_id: int, texts: list[str]) -> datetime:
    conversations = ConversationRepository(db, cipher)
    messages = MessageRepository(db, cipher)
    conversation = await conversations.start(user_id, "mark")
    last = None
    for text in texts:
        last = await messages.append(conversation, MessageRole.USER, text)
        await messages.append(conversation, MessageRole.ASSISTANT, f"reply to {text}")
    await messages.aclose()
    assert last is not None
    return last.created_at


async def test_the_card_counts_the_persons_messages_and_shows_their_payments(
    mongo_db: Db, cipher: AesGcmCipher
) -> None:
    users = UserRepository(mongo_db, cipher)
    await users.upsert(
        User(id=11, username="kate", language="en", current_persona_id="mark", consent_at=NOW)
    )
    last_seen = await _chat(mongo_db, cipher, 11, ["first secret", "second secret"])
    await _chat(mongo_db, cipher, 12, ["someone else"])
    subscriptions = SubscriptionRepository(mongo_db, cipher)
    await subscriptions.save(
        Subscription(
            user_id=11,
            plan_id="pro_month",
            status=SubscriptionStatus.ACTIVE,
            current_period_end=NOW + timedelta(days=10),
        )
    )
    ledger = PaymentLedger(mongo_db, cipher=cipher)
    for order, status, paid in (
        ("o-1", PaymentStatus.SUCCEEDED, NOW),
        ("o-2", PaymentStatus.CANCELED, None),
    ):
        await ledger.create(
            PaymentRecord(
                id=order,
                provider=Provider.YOOKASSA,
                payment_id=f"p-{order}",
                user_id=11,
                plan_id="pro_month",
                amount=Decimal("399.00"),
                currency="RUB",
                status=status,
                idempotency_key=f"k-{order}",
                paid_at=paid,
                created_at=NOW - timedelta(days=1 if order == "o-1" else 0),
            )
        )
    lookup = UserLookup(
        users, subscriptions, LedgerHistory(ledger), MessageActivity(mongo_db), lambda: NOW
    )

    card = await lookup.find("@Kate")
    assert card is not None and card == await lookup.find("11")
    assert card.user.current_persona_id == "mark"
    assert card.activity.messages == 2  # the person's, not the persona's replies
    assert card.activity.last_seen is not None
    assert abs((card.activity.last_seen - last_seen).total_seconds()) < 0.01
    assert card.pro_now is True
    assert [line.reference for line in card.payments] == ["o-2", "o-1"]  # newest first
    assert [line.reference for line in card.refundable] == ["o-1"]
    assert card.payments[1].amount == "399.00" and card.payments[1].status == "succeeded"
    assert "secret" not in repr(card)
    assert await lookup.find("@nobody") is None
    assert await lookup.find("404") is None


# --- error counts ------------------------------------------------------------------------------


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


async def test_error_counts_by_kind_for_the_hour_and_the_day(
    redis_client: Redis, redis_prefix: str
) -> None:
    clock = Clock(1_800_000_000.0)
    errors = ErrorLog(redis_client, prefix=redis_prefix, clock=clock)
    try:
        clock.now -= DAY_S + 2 * HOUR_S  # older than a day: in neither window
        await errors.record("update", 5)
        clock.now += DAY_S  # two hours ago: the day only
        await errors.record("update", 2)
        await errors.record("log:billing.jobs:TimeoutError")
        clock.now += 2 * HOUR_S - 60  # a minute ago
        await errors.record("update")
        await errors.record("deferred", 3)
        clock.now += 60
        assert await errors.counts(HOUR_S) == {"deferred": 3, "update": 1}
        assert await errors.counts(DAY_S) == {
            "update": 3,
            "deferred": 3,
            "log:billing.jobs:TimeoutError": 1,
        }
        ttl = await redis_client.ttl(f"{redis_prefix}:admin:errors:{int(clock.now - 60) // 300}")
        assert 0 < ttl <= 2 * DAY_S
    finally:
        keys = [k async for k in redis_client.scan_iter(f"{redis_prefix}:*")]
        if keys:
            await redis_client.delete(*keys)


async def test_error_log_lines_and_failures_from_threads_are_counted(
    redis_client: Redis, redis_prefix: str
) -> None:
    errors = ErrorLog(redis_client, prefix=redis_prefix)
    handler = ErrorLogHandler(errors)
    logger = logging.getLogger("companion.billing.jobs")
    logger.addHandler(handler)
    try:
        errors.note("reply_failed")  # on the loop: remembers it
        try:
            raise TimeoutError("provider")
        except TimeoutError:
            logger.exception("renewal failed")
        logger.error("plain error")
        logger.warning("only a warning")
        logging.getLogger("companion.bot.errors").addHandler(handler)
        logging.getLogger("companion.bot.errors").error("counted as 'update' by Metrics")
        logging.getLogger("aiogram.event").addHandler(handler)
        logging.getLogger("aiogram.event").error("not ours")
        thread = threading.Thread(target=errors.note, args=("speech",))
        thread.start()
        thread.join()
        await asyncio.sleep(0.05)  # the thread's hand-off runs on the loop
        await errors.flush()
        assert await errors.counts(HOUR_S) == {
            "reply_failed": 1,
            "log:billing.jobs:TimeoutError": 1,
            "log:billing.jobs": 1,
            "speech": 1,
        }
    finally:
        for name in ("companion.billing.jobs", "companion.bot.errors", "aiogram.event"):
            logging.getLogger(name).removeHandler(handler)
        keys = [k async for k in redis_client.scan_iter(f"{redis_prefix}:*")]
        if keys:
            await redis_client.delete(*keys)


async def test_counting_never_fails_when_redis_is_down() -> None:
    dead = Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.2)
    errors = ErrorLog(dead, prefix="nowhere")
    errors.note("update")
    await errors.flush()  # dropped, no exception
    await dead.aclose()


# --- health and the persona reload -------------------------------------------------------------


async def test_health_reports_each_dependency_with_its_state(tmp_path: Path) -> None:
    write_personas(tmp_path)
    personas = PersonaRepository(tmp_path)
    personas.load_all()

    async def up() -> bool:
        return True

    async def down() -> bool:
        return False

    async def broken() -> bool:
        raise ConnectionError("refused")

    async def hangs() -> bool:
        await asyncio.sleep(5)
        return True

    class Pool:
        running, waiting = 1, 3

    report = HealthReport(
        {
            "database": up,
            "redis": down,
            "llm": broken,
            "slow": hangs,
            "speech": speech_check(Pool()),
        },
        {"memory_learning": lambda: 2},
        None,
        personas,
        started_at=1000.0,
        version="9.9.9",
        timeout_s=0.2,
        clock=lambda: 1000.0 + 3 * 3600 + 120,
    )
    snap = await report.snapshot({"update_retries": 4, "update_retries_here": None})
    states = {check.name: (check.up, check.note) for check in snap.checks}
    assert states == {
        "database": (True, ""),
        "redis": (False, ""),
        "llm": (False, "ConnectionError"),
        "slow": (False, "no answer in 0.2 s"),
        "speech": (True, "1 running, 3 waiting"),
    }
    assert not snap.all_up
    assert snap.queues == {"memory_learning": 2, "update_retries": 4, "update_retries_here": None}
    assert (snap.version, snap.uptime_s, snap.personas, snap.persona_issues) == (
        "9.9.9",
        10920.0,
        4,
        0,
    )
    assert snap.errors_hour == {} and snap.errors_day == {}
    assert await speech_check(object())() == "off"


async def test_reloading_personas_reports_every_broken_file_and_keeps_the_last_good(
    tmp_path: Path,
) -> None:
    write_personas(tmp_path)
    personas = PersonaRepository(tmp_path)
    personas.load_all()
    report = HealthReport({}, {}, None, personas, started_at=0.0)
    (tmp_path / "broken.yaml").write_text("id: broken\nname: [unclosed\n")
    anna = tmp_path / "anna.yaml"
    anna.write_text(anna.read_text().replace('"module": "support"', '"module": 5'))
    (tmp_path / "star.yaml").unlink()

    result = report.reload_personas()
    assert result.personas == 3  # anna (last good), mark, lily; star is gone
    assert result.removed == ["star"]
    assert len(result.issues) == 2
    assert any(issue.startswith("broken.yaml") for issue in result.issues)
    assert any(issue.startswith("anna.yaml") and "module" in issue for issue in result.issues)
    assert personas.get("anna") is not None


@pytest.mark.parametrize(
    ("text", "meant"),
    [("42", True), ("@anna", True), ("@who is it", True), ("t.me/x", True), ("hello", False)],
)
def test_what_counts_as_a_lookup_while_the_prompt_waits(text: str, meant: bool) -> None:
    assert looks_like_query(text) is meant


async def test_usernames_are_found_across_a_key_rotation(mongo_db: Db) -> None:
    old_key, new_key = os.urandom(32), os.urandom(32)
    await UserRepository(mongo_db, AesGcmCipher(old_key)).upsert(User(id=21, username="Rotated"))
    rotating = AesGcmCipher(new_key, previous_keys=[old_key])
    found = await UserRepository(mongo_db, rotating).find_by_username("rotated")
    assert found is not None and found.id == 21  # matched under the previous key

    await reencrypt(mongo_db, rotating)
    after = AesGcmCipher(new_key)  # the old key dropped
    found = await UserRepository(mongo_db, after).find_by_username("@ROTATED")
    assert found is not None and found.username == "Rotated"
