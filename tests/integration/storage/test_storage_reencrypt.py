from __future__ import annotations

import os
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase

from companion.domain.models import MessageRole
from companion.storage import collections as c
from companion.storage.conversations import ConversationRepository
from companion.storage.crypto import AesGcmCipher, PlaintextCipher
from companion.storage.messages import MessageRepository
from companion.storage.reencrypt import reencrypt

Db = AsyncDatabase[Any]


async def test_key_rotation_reseals_everything(db: Db) -> None:
    old_key, new_key = os.urandom(32), os.urandom(32)
    old = AesGcmCipher(old_key)
    conversations = ConversationRepository(db, old)
    conv = await conversations.start(1, "kylie")
    await MessageRepository(db, PlaintextCipher()).append(conv, MessageRole.USER, "plain first")
    await MessageRepository(db, old).append(conv, MessageRole.ASSISTANT, "old key reply")
    await conversations.save_summary(conv.id, "summary under the old key", 2)
    await db[c.EPISODES].insert_one(
        {"user_id": 1, "user_text": old.encrypt("question"), "reply_text": old.encrypt("answer")}
    )

    rotated = AesGcmCipher(new_key, previous_keys=[old_key])
    assert _changed(await reencrypt(db, rotated)) == {
        c.MESSAGES: 1,
        c.CONVERSATIONS: 1,
        c.EPISODES: 2,
    }
    # The plaintext message stays as it is unless asked.
    raw = await db[c.MESSAGES].find_one({"seq": 1})
    assert raw is not None and raw["text"] == "plain first"
    assert _changed(await reencrypt(db, rotated, encrypt_plaintext=True)) == {c.MESSAGES: 1}
    assert _changed(await reencrypt(db, rotated, encrypt_plaintext=True)) == {}

    # Now the new key alone reads everything, and no plaintext is left.
    only_new = AesGcmCipher(new_key)
    texts = [m.text for m in await MessageRepository(db, only_new).history(conv.id)]
    assert texts == ["plain first", "old key reply"]
    stored = await ConversationRepository(db, only_new).get(conv.id)
    assert stored is not None and stored.summary == "summary under the old key"
    async for document in db[c.MESSAGES].find({}):
        assert isinstance(document["text"], bytes)
    episode = await db[c.EPISODES].find_one({})
    assert episode is not None
    assert [only_new.decrypt(episode[f]) for f in ("user_text", "reply_text")] == [
        "question",
        "answer",
    ]


def _changed(counts: dict[str, int]) -> dict[str, int]:
    return {name: count for name, count in counts.items() if count}
