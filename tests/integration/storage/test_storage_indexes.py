from __future__ import annotations

from typing import Any

import pytest
from pymongo import ASCENDING
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from companion.storage import collections as c
from companion.storage.indexes import INDEXES, ensure_indexes

Db = AsyncDatabase[Any]


async def _index_specs(db: Db) -> dict[str, dict[str, Any]]:
    specs: dict[str, dict[str, Any]] = {}
    for collection in INDEXES:
        async for index in await db[collection].list_indexes():
            specs[f"{collection}.{index['name']}"] = {
                "key": list(index["key"].items()),
                "unique": bool(index.get("unique")),
                "partial": index.get("partialFilterExpression"),
            }
    return specs


async def test_ensure_indexes_is_idempotent(mongo_db: Db) -> None:
    await ensure_indexes(mongo_db)
    first = await _index_specs(mongo_db)
    await ensure_indexes(mongo_db)
    assert await _index_specs(mongo_db) == first
    expected = {f"{coll}.{m.document['name']}" for coll, models in INDEXES.items() for m in models}
    assert expected <= set(first)
    assert first["messages.conversation_seq"] == {
        "key": [("conversation_id", 1), ("seq", 1)],
        "unique": True,
        "partial": None,
    }
    assert first["payments.provider_payment_unique"]["unique"] is True
    assert first["subscriptions.user_unique"]["unique"] is True


async def test_a_changed_index_definition_is_rebuilt(mongo_db: Db) -> None:
    # An older release made this index without `unique`.
    await mongo_db[c.MESSAGES].create_index(
        [("conversation_id", ASCENDING), ("seq", ASCENDING)], name="conversation_seq"
    )
    await ensure_indexes(mongo_db)
    specs = await _index_specs(mongo_db)
    assert specs["messages.conversation_seq"]["unique"] is True


async def test_unique_message_seq(mongo_db: Db) -> None:
    await ensure_indexes(mongo_db)
    messages = mongo_db[c.MESSAGES]
    await messages.insert_one({"conversation_id": "a", "seq": 1, "user_id": 1})
    await messages.insert_one({"conversation_id": "b", "seq": 1, "user_id": 1})
    with pytest.raises(DuplicateKeyError):
        await messages.insert_one({"conversation_id": "a", "seq": 1, "user_id": 2})
    assert await messages.count_documents({}) == 2


async def test_unique_payment_keys(mongo_db: Db) -> None:
    await ensure_indexes(mongo_db)
    payments = mongo_db[c.PAYMENTS]
    await payments.insert_one({"provider": "yookassa", "payment_id": "p1", "idempotency_key": "k1"})
    # Same payment id at another provider, and entries without an idempotency key, are fine.
    await payments.insert_one({"provider": "stars", "payment_id": "p1"})
    await payments.insert_one({"provider": "stars", "payment_id": "p2"})
    with pytest.raises(DuplicateKeyError):
        await payments.insert_one({"provider": "yookassa", "payment_id": "p1"})
    with pytest.raises(DuplicateKeyError):
        await payments.insert_one(
            {"provider": "yookassa", "payment_id": "p9", "idempotency_key": "k1"}
        )
    assert await payments.count_documents({}) == 3


async def test_one_subscription_and_one_active_conversation(mongo_db: Db) -> None:
    await ensure_indexes(mongo_db)
    await mongo_db[c.SUBSCRIPTIONS].insert_one({"_id": 1, "user_id": 1})
    with pytest.raises(DuplicateKeyError):
        await mongo_db[c.SUBSCRIPTIONS].insert_one({"_id": 2, "user_id": 1})

    conversations = mongo_db[c.CONVERSATIONS]
    await conversations.insert_one({"user_id": 1, "persona_id": "kylie", "active": False})
    await conversations.insert_one({"user_id": 1, "persona_id": "kylie", "active": False})
    await conversations.insert_one({"user_id": 1, "persona_id": "kylie", "active": True})
    await conversations.insert_one({"user_id": 1, "persona_id": "mark", "active": True})
    with pytest.raises(DuplicateKeyError):
        await conversations.insert_one({"user_id": 1, "persona_id": "kylie", "active": True})
