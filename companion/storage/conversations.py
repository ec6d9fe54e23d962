"""Conversations: one active dialogue per (user, persona), with its rolling summary."""

from __future__ import annotations

from pymongo import DESCENDING
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from companion.domain.models import Conversation
from companion.storage import collections as c
from companion.storage.crypto import FieldCipher
from companion.storage.documents import Document, bson_ready, new_id, storage_now

# A racing `start` for the same (user, persona) is rare; a few retries settle it.
_START_ATTEMPTS = 5


class ConversationRepository:
    """Implements `companion.domain.ports.ConversationStore`; the summary is encrypted."""

    def __init__(self, db: AsyncDatabase[Document], cipher: FieldCipher) -> None:
        self._conversations = db[c.CONVERSATIONS]
        self._cipher = cipher

    async def get(self, conversation_id: str) -> Conversation | None:
        document = await self._conversations.find_one({"_id": conversation_id})
        return None if document is None else self._to_model(document)

    async def get_active(self, user_id: int, persona_id: str) -> Conversation | None:
        document = await self._conversations.find_one(
            {"user_id": user_id, "persona_id": persona_id, "active": True}
        )
        return None if document is None else self._to_model(document)

    async def start(self, user_id: int, persona_id: str) -> Conversation:
        """Deactivate the active conversation for (user, persona), if any, and open a new one.

        A unique partial index allows one active conversation per (user, persona): when two
        starts race, the second finds the first's conversation and returns it.
        """
        for _ in range(_START_ATTEMPTS):
            now = storage_now()
            await self._conversations.update_many(
                {"user_id": user_id, "persona_id": persona_id, "active": True},
                {"$set": {"active": False, "ended_at": now}},
            )
            conversation = Conversation(
                id=new_id(), user_id=user_id, persona_id=persona_id, started_at=now, updated_at=now
            )
            try:
                await self._conversations.insert_one(self._to_document(conversation))
            except DuplicateKeyError:
                winner = await self.get_active(user_id, persona_id)
                if winner is not None:
                    return winner
                continue
            return conversation
        raise RuntimeError(
            f"could not start a conversation for user {user_id} with {persona_id}: "
            "too many concurrent starts"
        )

    async def get_or_start(self, user_id: int, persona_id: str) -> Conversation:
        return await self.get_active(user_id, persona_id) or await self.start(user_id, persona_id)

    async def save_summary(self, conversation_id: str, summary: str, upto_seq: int) -> None:
        """Store the rolling summary unless a newer one (covering more turns) is stored."""
        await self._conversations.update_one(
            {"_id": conversation_id, "summary_upto_seq": {"$lte": upto_seq}},
            {
                "$set": {
                    "summary": self._cipher.encrypt(summary),
                    "summary_upto_seq": upto_seq,
                    "updated_at": storage_now(),
                }
            },
        )

    async def list_for_user(
        self, user_id: int, *, persona_id: str | None = None, limit: int = 0
    ) -> list[Conversation]:
        """The user's conversations, most recently active first (`limit` 0: all)."""
        query: Document = {"user_id": user_id}
        if persona_id is not None:
            query["persona_id"] = persona_id
        cursor = (
            self._conversations.find(query)
            .sort([("updated_at", DESCENDING), ("started_at", DESCENDING)])
            .limit(limit)
        )
        return [self._to_model(document) async for document in cursor]

    def _to_document(self, conversation: Conversation) -> Document:
        document: Document = bson_ready(conversation.model_dump(mode="python"))
        document["_id"] = document.pop("id")
        document["summary"] = self._cipher.encrypt(conversation.summary)
        document["last_seq"] = 0  # the message counter, advanced by MessageRepository.append
        return document

    def _to_model(self, document: Document) -> Conversation:
        data = dict(document)
        data["id"] = data.pop("_id")
        data["summary"] = self._cipher.decrypt(data.get("summary", ""))
        return Conversation.model_validate(data)
