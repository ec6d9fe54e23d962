from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from typing import Any

import pytest
from bson import Binary
from bson.binary import BinaryVectorDtype
from pymongo.asynchronous.database import AsyncDatabase

from companion.dialogs.ordering import LocalUserLocks
from companion.domain.models import (
    Event,
    MessageRole,
    Subscription,
    SubscriptionStatus,
    User,
)
from companion.storage import collections as c
from companion.storage.conversations import ConversationRepository
from companion.storage.crypto import AesGcmCipher
from companion.storage.events import EventRepository
from companion.storage.messages import MessageRepository
from companion.storage.subscriptions import SubscriptionRepository
from companion.storage.user_data import UserDataService
from companion.storage.users import UserRepository

Db = AsyncDatabase[Any]
ANNA, OTHER = 42, 43
EMAIL = "anna@example.com"
PAID_AT = datetime(2026, 4, 1, 10, 0, tzinfo=UTC)


async def _seed(db: Db, cipher: AesGcmCipher, user_id: int, secret: str) -> None:
    await UserRepository(db).upsert(User(id=user_id, first_name="Anna", receipt_contact=EMAIL))
    conversations = ConversationRepository(db, cipher)
    messages = MessageRepository(db, cipher)
    first = await conversations.start(user_id, "kylie")
    await messages.append(first, MessageRole.USER, f"my secret is {secret}")
    await messages.append(first, MessageRole.ASSISTANT, "I will remember")
    await conversations.save_summary(first.id, f"talked about {secret}", 2)
    second = await conversations.start(user_id, "mark")
    await messages.append(second, MessageRole.USER, "hi Mark")
    vector = Binary.from_vector([0.1, 0.2, 0.3], BinaryVectorDtype.FLOAT32)
    await db[c.MEMORIES].insert_one(
        {
            "user_id": user_id,
            "text": cipher.encrypt(f"lives in Kazan ({secret})"),
            "category": "identity",
            "embedding": vector,
            "created_at": PAID_AT,
        }
    )
    await db[c.MEMORY_HISTORY].insert_one(
        {"user_id": user_id, "text": cipher.encrypt("lived in Moscow"), "created_at": PAID_AT}
    )
    await db[c.EPISODES].insert_one({"user_id": user_id, "embedding": vector, "message_id": "m"})
    await SubscriptionRepository(db).save(
        Subscription(
            user_id=user_id,
            plan_id="pro_month",
            status=SubscriptionStatus.ACTIVE,
            current_period_end=datetime(2026, 5, 1, tzinfo=UTC),
            payment_method_id="pm-card-secret",
        )
    )
    await db[c.PAYMENTS].insert_one(
        {
            "user_id": user_id,
            "provider": "yookassa",
            "payment_id": f"pay-{user_id}",
            "idempotency_key": f"create:{user_id}:1",
            "amount": "499.00",
            "currency": "RUB",
            "status": "succeeded",
            "plan_id": "pro_month",
            "created_at": PAID_AT,
            "description": f"PRO for {user_id}",
            "receipt": {"customer": {"email": EMAIL}},
            "metadata": {"user_id": str(user_id)},
            "payment_method_id": "pm-card-secret",
        }
    )
    events = EventRepository(db)
    await events.record(Event(user_id=user_id, name="start", at=PAID_AT))
    await events.record(Event(user_id=user_id, name="paid", at=PAID_AT, data={"plan": "pro"}))


async def test_export_holds_everything_decrypted(db: Db, cipher: AesGcmCipher) -> None:
    await _seed(db, cipher, ANNA, "swordfish")
    await _seed(db, cipher, OTHER, "other-secret")

    exported = await UserDataService(db, cipher).export(ANNA)
    text = json.dumps(exported, ensure_ascii=False)  # must be JSON-serialisable
    assert "other-secret" not in text  # nobody else's data

    assert exported["user_id"] == ANNA
    assert exported["profile"]["first_name"] == "Anna"
    conversations = {conv["persona_id"]: conv for conv in exported["conversations"]}
    assert set(conversations) == {"kylie", "mark"}
    kylie = conversations["kylie"]
    assert [(m["seq"], m["role"], m["text"]) for m in kylie["messages"]] == [
        (1, "user", "my secret is swordfish"),
        (2, "assistant", "I will remember"),
    ]
    assert kylie["summary"] == "talked about swordfish"
    assert kylie["active"] is True
    assert [m["text"] for m in conversations["mark"]["messages"]] == ["hi Mark"]

    assert len(exported["facts"]) == 1
    fact = exported["facts"][0]
    assert fact["text"] == "lives in Kazan (swordfish)"
    assert fact["category"] == "identity"
    assert "embedding" not in fact
    assert [h["text"] for h in exported["fact_history"]] == ["lived in Moscow"]

    assert exported["subscription"]["status"] == "active"
    assert "pm-card-secret" not in text
    assert exported["payments"] == [
        {
            "provider": "yookassa",
            "plan_id": "pro_month",
            "kind": None,
            "amount": "499.00",
            "currency": "RUB",
            "status": "succeeded",
            "refunded_amount": None,
            "created_at": PAID_AT.isoformat(),
            "paid_at": None,
            "refunded_at": None,
        }
    ]
    assert [(e["name"], e["data"]) for e in exported["events"]] == [
        ("start", {}),
        ("paid", {"plan": "pro"}),
    ]


async def test_export_of_an_unknown_user_is_empty(db: Db, cipher: AesGcmCipher) -> None:
    exported = await UserDataService(db, cipher).export(999)
    assert exported["profile"] is None
    assert exported["conversations"] == [] and exported["facts"] == []
    assert exported["subscription"] is None and exported["payments"] == []


async def _documents_about(db: Db, user_id: int) -> dict[str, int]:
    counts = {}
    for collection, field in {**c.USER_DATA_FIELDS, **c.RETAINED_AFTER_ERASURE}.items():
        counts[collection] = await db[collection].count_documents({field: user_id})
    counts[c.SUBSCRIPTIONS] += await db[c.SUBSCRIPTIONS].count_documents({"_id": user_id})
    return counts


async def _raw_dump(db: Db) -> str:
    chunks = []
    for name in await db.list_collection_names():
        async for document in db[name].find({}):
            chunks.append(repr(document))
    return "\n".join(chunks)


async def test_erase_removes_everything_and_keeps_an_anonymous_ledger(
    db: Db, cipher: AesGcmCipher
) -> None:
    await _seed(db, cipher, ANNA, "swordfish")
    await _seed(db, cipher, OTHER, "other-secret")
    before_other = await _documents_about(db, OTHER)
    service = UserDataService(db, cipher)

    counts = await service.erase(ANNA)
    assert set(counts) == {*c.USER_DATA_FIELDS, *c.RETAINED_AFTER_ERASURE, c.ANALYTICS_PEOPLE}
    assert {name: count for name, count in counts.items() if count} == {
        c.USERS: 1,
        c.SUBSCRIPTIONS: 1,
        c.MESSAGES: 3,
        c.EPISODES: 1,
        c.MEMORY_HISTORY: 1,
        c.MEMORIES: 1,
        c.CONVERSATIONS: 2,
        c.EVENTS: 2,
        c.PAYMENTS: 1,
    }
    assert all(count == 0 for count in (await _documents_about(db, ANNA)).values())
    assert await _documents_about(db, OTHER) == before_other  # nobody else touched
    assert await db[c.ERASURES].count_documents({}) == 0

    payment = await db[c.PAYMENTS].find_one({"payment_id": f"pay-{ANNA}"})
    assert payment is not None
    assert set(payment) == {
        "_id",
        "provider",
        "payment_id",
        "amount",
        "currency",
        "status",
        "plan_id",
        "created_at",
        "user_ref",
        "erased_at",
    }
    assert payment["user_ref"] == cipher.pseudonym(ANNA)
    other_payment = await db[c.PAYMENTS].find_one({"payment_id": f"pay-{OTHER}"})
    assert other_payment is not None and other_payment["receipt"]["customer"]["email"] == EMAIL

    # Nothing in the database still mentions Anna apart from the other user's own records.
    await service.erase(OTHER)
    dump = await _raw_dump(db)
    assert EMAIL not in dump
    assert "pm-card-secret" not in dump
    assert "'user_id': 42" not in dump and "'_id': 42" not in dump

    # Erasing again is harmless.
    again = await service.erase(ANNA)
    assert set(again.values()) == {0}
    after = await service.export(ANNA)
    assert after["profile"] is None and after["subscription"] is None
    for part in ("conversations", "facts", "fact_history", "payments", "events"):
        assert after[part] == [], part


async def test_an_interrupted_erase_is_finished_at_start_up(
    db: Db, cipher: AesGcmCipher, monkeypatch: pytest.MonkeyPatch
) -> None:
    await _seed(db, cipher, ANNA, "swordfish")

    async def crash(self: UserDataService, user_id: int) -> int:
        raise RuntimeError("process killed")

    monkeypatch.setattr(UserDataService, "_strip_payments", crash)
    with pytest.raises(RuntimeError, match="killed"):
        await UserDataService(db, cipher).erase(ANNA)
    monkeypatch.undo()

    # The crash left the payment personal and the marker in place.
    assert await db[c.PAYMENTS].count_documents({"user_id": ANNA}) == 1
    restarted = UserDataService(db, cipher)
    assert await restarted.pending_erasures() == [ANNA]

    assert await restarted.finish_pending_erasures() == 1
    assert all(count == 0 for count in (await _documents_about(db, ANNA)).values())
    assert await restarted.pending_erasures() == []
    assert await restarted.finish_pending_erasures() == 0


async def test_a_newly_registered_collection_is_exported_and_erased(
    db: Db, cipher: AesGcmCipher, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(c.USER_DATA_FIELDS, "test_notes", "owner")
    await db["test_notes"].insert_many(
        [
            {"owner": ANNA, "note": cipher.encrypt("private note"), "at": PAID_AT},
            {"owner": OTHER, "note": "someone else's"},
        ]
    )
    service = UserDataService(db, cipher)
    exported = await service.export(ANNA)
    notes = exported["other"]["test_notes"]
    assert [(n["note"], n["at"]) for n in notes] == [("private note", PAID_AT.isoformat())]
    json.dumps(exported)

    counts = await service.erase(ANNA)
    assert counts["test_notes"] == 1
    assert await db["test_notes"].count_documents({"owner": ANNA}) == 0
    assert await db["test_notes"].count_documents({"owner": OTHER}) == 1


async def test_a_reply_finishing_after_the_erase_stores_nothing(
    db: Db, cipher: AesGcmCipher
) -> None:
    await UserRepository(db).upsert(User(id=ANNA))
    conversation = await ConversationRepository(db, cipher).start(ANNA, "kylie")
    messages = MessageRepository(db, cipher)
    await messages.append(conversation, MessageRole.USER, "tell me a story")

    await messages.flush()
    await UserDataService(db, cipher).erase(ANNA)
    # A writer without the user's lock (see the next test; here another worker, whose first
    # message in the conversation is always followed by a touch) stores the reply, and the
    # touch that finds the conversation gone removes it.
    late_writer = MessageRepository(db, cipher)
    await late_writer.append(conversation, MessageRole.ASSISTANT, "once upon a time")
    await late_writer.flush()
    assert await db[c.MESSAGES].count_documents({"user_id": ANNA}) == 0


async def test_an_erase_waits_for_the_reply_in_flight(db: Db, cipher: AesGcmCipher) -> None:
    await UserRepository(db).upsert(User(id=ANNA))
    conversation = await ConversationRepository(db, cipher).start(ANNA, "kylie")
    messages = MessageRepository(db, cipher)
    locks = LocalUserLocks()
    replying, erased = asyncio.Event(), asyncio.Event()

    async def reply() -> None:
        async with locks.hold(ANNA):  # as DialogService.reply holds it
            await messages.append(conversation, MessageRole.USER, "tell me a story")
            replying.set()
            await asyncio.sleep(0.2)
            assert not erased.is_set()
            await messages.append(conversation, MessageRole.ASSISTANT, "once upon a time")

    async def forget() -> None:
        await replying.wait()
        await UserDataService(db, cipher, locks=locks).erase(ANNA)
        erased.set()

    await asyncio.gather(reply(), forget())
    assert await db[c.MESSAGES].count_documents({"user_id": ANNA}) == 0
    assert await db[c.CONVERSATIONS].count_documents({"user_id": ANNA}) == 0
