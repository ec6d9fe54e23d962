"""What memory keeps about deleted facts and erased users cannot be tied back to them: keyed
fingerprints (a guessed fact cannot be confirmed from the database), forget markers with a
pseudonym instead of the user id, expiring on their own."""

from __future__ import annotations

import logging
import os
from datetime import UTC, datetime, timedelta
from typing import Any

import bson
import pytest

from companion.memory.reconcile import Action
from companion.memory.store import FORGOTTEN, TOMBSTONE, FactStore
from companion.memory.text import text_hash
from companion.storage import collections as c
from companion.storage.crypto import AesGcmCipher
from companion.storage.indexes import ensure_indexes
from tests.integration.memory.conftest import MemoryWorld, fact
from tests.integration.memory.test_reconcile import learn

FACT = "The user secretly collects porcelain frogs"


async def test_a_deleted_fact_leaves_only_a_keyed_fingerprint(world: MemoryWorld) -> None:
    await learn(world, "I collect porcelain frogs", [fact(FACT, "preferences")])
    [stored] = await world.service.list_facts(42)
    raw_fact = await world.db[c.MEMORIES].find_one({"_id": stored.id})
    assert raw_fact is not None and "text_hash" not in raw_fact

    assert await world.service.delete_fact(42, stored.id)
    [tombstone] = await world.db[c.MEMORY_HISTORY].find({"kind": TOMBSTONE}).to_list()
    # Someone who reads the database and guesses the fact cannot confirm the guess: the
    # unkeyed hash of the guess is nowhere, and a store with another key computes another
    # fingerprint.
    assert "text_hash" not in tombstone
    assert text_hash(FACT).encode() not in bson.encode(tombstone)
    assert tombstone["fingerprint"] == world.service.facts.fingerprint(FACT)
    outsider = FactStore(world.db, AesGcmCipher(os.urandom(32)))
    assert outsider.fingerprint(FACT) != tombstone["fingerprint"]

    # The tombstone still does its job: the fact is not learnt again.
    await learn(world, "Did I mention the frogs?", [fact(FACT + ".", "preferences")])
    assert await world.service.list_facts(42) == []
    assert [o.action for o in world.service.last_outcomes] == [Action.SUPPRESSED]


async def test_an_unkeyed_tombstone_of_an_earlier_release_still_blocks(
    world: MemoryWorld,
) -> None:
    # Written before fingerprints were keyed; without a vector only the hash can match.
    await world.db[c.MEMORY_HISTORY].insert_one(
        {
            "kind": TOMBSTONE,
            "user_id": 42,
            "text_hash": text_hash(FACT),
            "vector": None,
            "created_at": datetime.now(UTC),
        }
    )
    await learn(world, "I collect porcelain frogs", [fact(FACT, "preferences")])
    assert await world.service.list_facts(42) == []
    assert [o.action for o in world.service.last_outcomes] == [Action.SUPPRESSED]


async def test_forget_marker_is_pseudonymous_and_expires(
    world: MemoryWorld, caplog: pytest.LogCaptureFixture
) -> None:
    await ensure_indexes(world.db)
    user_id = 918_273_645_501
    # A marker as an earlier release wrote it: the user id, kept forever.
    await world.db[c.MEMORY_HISTORY].insert_one(
        {"kind": FORGOTTEN, "user_id": user_id, "created_at": datetime.now(UTC)}
    )
    caplog.set_level(logging.DEBUG, logger="companion")

    await world.service.forget_user(user_id)

    markers: list[dict[str, Any]] = await world.db[c.MEMORY_HISTORY].find({}).to_list()
    assert len(markers) == 1
    [marker] = markers
    assert "user_id" not in marker and str(user_id).encode() not in bson.encode(marker)
    assert marker["kind"] == FORGOTTEN and len(marker["user_ref"]) == 64
    expires = marker["expires_at"].replace(tzinfo=UTC)
    assert timedelta(hours=23) < expires - datetime.now(UTC) < timedelta(hours=25)
    # The server deletes it when it expires.
    indexes = await world.db[c.MEMORY_HISTORY].index_information()
    assert any(
        spec["key"] == [("expires_at", 1)] and spec.get("expireAfterSeconds") == 0
        for spec in indexes.values()
    )
    # It still does its job: a pass that started before sees that memory was erased.
    seen = await world.service.facts.last_forgotten(user_id)
    assert seen is not None and seen.id == str(marker["_id"])
    # And nothing logged on the way names the user.
    assert not [r for r in caplog.records if str(user_id) in r.getMessage()]
