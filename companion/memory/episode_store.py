"""MongoDB repository of embedded exchanges (``episodes``), for recalling past conversations.

One document per exchange: ``_id`` = the user message id, ``user_id``, ``persona_id``,
``conversation_id``, ``seq``, ``user_text`` and ``reply_text`` (through the field cipher),
``created_at``, ``vector`` (with the model that made it; see `store.VectorSpace`).
"""

from __future__ import annotations

from collections.abc import Collection

from pymongo import DESCENDING
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase

from companion.memory.embedder import Vector, from_bson
from companion.memory.facts import Episode
from companion.memory.records import MemoryRecord
from companion.memory.store import Document, VectorSpace, as_utc, to_millis
from companion.storage import collections as names
from companion.storage.crypto import FieldCipher


class EpisodeStore:
    """Embedded exchanges of each user, for recalling past conversations."""

    text_fields: tuple[str, ...] = ("user_text", "reply_text")

    def __init__(
        self,
        db: AsyncDatabase[Document],
        cipher: FieldCipher,
        *,
        embedding_model: str | None = None,
    ) -> None:
        self._episodes = db[names.EPISODES]
        self._cipher = cipher
        self.vectors = VectorSpace(embedding_model)

    @property
    def collection(self) -> AsyncCollection[Document]:
        return self._episodes

    def embedding_text(self, document: Document) -> str:
        """The text a stored exchange's vector embeds (a passage)."""
        return self._to_episode(document).search_text

    async def save(self, episode: Episode, vector: Vector) -> None:
        await self._episodes.replace_one(
            {"_id": episode.id},
            {
                "_id": episode.id,
                "user_id": episode.user_id,
                "persona_id": episode.persona_id,
                "conversation_id": episode.conversation_id,
                "seq": episode.seq,
                "user_text": self._cipher.encrypt(episode.user_text),
                "reply_text": self._cipher.encrypt(episode.reply_text),
                "created_at": to_millis(episode.created_at),
                **self.vectors.fields(vector),
            },
            upsert=True,
        )

    async def last_seq(self, user_id: int, conversation_id: str) -> int:
        """The seq of the newest stored exchange of a conversation (0 when none).

        Sorted by time rather than seq so the (user_id, created_at) index serves it: within a
        conversation both grow together.
        """
        document = await self._episodes.find_one(
            {"user_id": user_id, "conversation_id": conversation_id},
            sort=[("created_at", DESCENDING), ("seq", DESCENDING)],
        )
        return 0 if document is None else int(document.get("seq", 0))

    async def get_many(self, user_id: int, ids: Collection[str]) -> dict[str, Episode]:
        cursor = self._episodes.find({"user_id": user_id, "_id": {"$in": list(ids)}})
        return {str(document["_id"]): self._to_episode(document) async for document in cursor}

    async def delete(self, user_id: int, ids: Collection[str]) -> None:
        if ids:
            await self._episodes.delete_many({"user_id": user_id, "_id": {"$in": list(ids)}})

    async def count(self, user_id: int) -> int:
        return int(await self._episodes.count_documents({"user_id": user_id}))

    async def forget(self, user_id: int) -> int:
        result = await self._episodes.delete_many({"user_id": user_id})
        return int(result.deleted_count)

    async def load(self, user_id: int) -> list[MemoryRecord]:
        """The user's exchanges as retriever records, scoped by persona (`RecordSource`)."""
        records: list[MemoryRecord] = []
        skipped = 0
        async for document in self._episodes.find({"user_id": user_id}):
            if not self.vectors.current(document):
                skipped += document.get("vector") is not None
                continue
            episode = self._to_episode(document)
            records.append(
                MemoryRecord(
                    id=episode.id,
                    text=episode.search_text,
                    time=episode.created_at,
                    scope=episode.persona_id,
                    vector=from_bson(document["vector"]),
                    user_chars=episode.user_chars,
                )
            )
        self.vectors.note_skipped(skipped)
        return records

    def _to_episode(self, document: Document) -> Episode:
        return Episode(
            id=str(document["_id"]),
            user_id=int(document["user_id"]),
            persona_id=str(document["persona_id"]),
            conversation_id=str(document["conversation_id"]),
            seq=int(document["seq"]),
            user_text=self._cipher.decrypt(document["user_text"]),
            reply_text=self._cipher.decrypt(document.get("reply_text", "")),
            created_at=as_utc(document["created_at"]),
        )
