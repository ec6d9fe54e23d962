"""MongoDB repository of facts, their history and tombstones (embedded exchanges:
`episode_store`).

Documents never leave this module: callers get `Fact` / `Episode` models and `MemoryRecord`s
for the retriever. Text fields go through the field cipher (encrypted at rest when a key is
configured); vectors are stored plain as BSON binary vectors (they are not text).

Collections (names from `companion.storage.collections`):

- ``memories``: one document per fact (``_id`` = fact id, ``user_id``, ``text``, ``category``,
  ``importance``, ``refers_to``, ``source_message_ids``, ``persona_id``, ``created_at``,
  ``updated_at``, ``vector``). Facts written before keyed fingerprints also have an unkeyed
  ``text_hash``; `companion db reencrypt` removes it (nothing reads it).
- ``memory_history``: ``kind="version"`` documents (an earlier text of a fact, ``fact_id``),
  ``kind="tombstone"`` documents (a fact the user deleted: its ``fingerprint`` and ``vector``,
  so extraction from old messages never brings it back) and ``kind="forgotten"`` markers (the
  user had all memory erased at ``created_at``: a pass that was learning at that moment undoes
  what it wrote).

Privacy: the fingerprint is an HMAC-SHA256 of the normalised text with a key derived from the
encryption key (`FieldCipher.fingerprint`), so a guessed fact cannot be confirmed by reading
the database. Tombstones written before carry an unkeyed ``text_hash`` instead: they are still
matched (dual lookup, `fingerprints`) but cannot be converted, the text being gone. A forget
marker holds no user id, only `FieldCipher.pseudonym` of it (``user_ref``), and expires after
`FORGET_MARKER_TTL` (TTL index on ``expires_at``): long enough for any pass that was running
to see it, after which the marker says nothing about anyone.
- ``episodes``: embedded exchanges, `companion.memory.episode_store.EpisodeStore`.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import numpy as np
from pymongo import ASCENDING, DESCENDING
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase

from companion.memory.embedder import Vector, from_bson, to_bson
from companion.memory.facts import Fact, FactCategory, FactVersion
from companion.memory.records import MemoryRecord
from companion.memory.text import normalize, text_hash
from companion.storage import collections as names
from companion.storage.crypto import FieldCipher

Document = dict[str, Any]

log = logging.getLogger(__name__)

VERSION = "version"
TOMBSTONE = "tombstone"
FORGOTTEN = "forgotten"

# A memory pass runs for seconds to a few minutes (one extraction call with its retries); a
# day leaves a wide margin for a stalled worker and still lets the marker vanish soon.
FORGET_MARKER_TTL = timedelta(hours=24)


def as_utc(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def to_millis(value: datetime) -> datetime:
    """Millisecond precision, what BSON dates keep, so stored models compare equal."""
    return value.replace(microsecond=value.microsecond // 1000 * 1000)


def _date_to_bson(value: date | None) -> datetime | None:
    return None if value is None else datetime.combine(value, time(), tzinfo=UTC)


EMBEDDING_MODEL = "embedding_model"


class VectorSpace:
    """Which embedding model wrote a stored vector.

    Vectors of two models are not comparable, even when they have the same size
    (all-MiniLM-L6-v2 and multilingual-e5-small are both 384-d: mixing them ranks silently at
    random). So every vector is stored with its model's id, and records embedded by another
    model are left out of search until ``companion memory reembed`` re-embeds them. Vectors
    stored without an id (none in production; tests that do not care) count as the current
    model's. With ``model_id=None`` nothing is tagged or filtered.
    """

    def __init__(self, model_id: str | None) -> None:
        self.model_id = model_id
        self._warned = False

    def fields(self, vector: Vector) -> Document:
        """The document fields that store `vector`."""
        fields: Document = {"vector": to_bson(vector)}
        if self.model_id is not None:
            fields[EMBEDDING_MODEL] = self.model_id
        return fields

    def current(self, document: Document) -> bool:
        """Whether the document's vector is usable with the current model."""
        if document.get("vector") is None:
            return False
        tag = document.get(EMBEDDING_MODEL)
        return self.model_id is None or tag is None or tag == self.model_id

    def stale_filter(self) -> Document:
        """Documents whose vector another model wrote (what `reembed` rewrites)."""
        if self.model_id is None:
            raise ValueError("a vector space without a model id has no stale vectors")
        return {"vector": {"$ne": None}, EMBEDDING_MODEL: {"$ne": self.model_id}}

    def note_skipped(self, count: int) -> None:
        if count and not self._warned:
            self._warned = True
            log.warning(
                "memory vectors from another embedding model than %r are left out of search; "
                "run `companion memory reembed`",
                self.model_id,
            )


@dataclass(frozen=True, slots=True)
class ForgetMarker:
    """The user's latest "forget everything": its id tells one erasure from the next."""

    id: str
    at: datetime


@dataclass(frozen=True, slots=True)
class Tombstone:
    # The stored fingerprint: keyed (`FactStore.fingerprint`), or the unkeyed `text_hash` of a
    # tombstone written before; compare with `FactStore.fingerprints`, which yields both kinds.
    text_hash: str
    vector: Vector | None


class FactStore:
    """Facts of each user, with the earlier versions and deletion tombstones."""

    # The fields a fact's vector is computed from (`embedding_text`).
    text_fields: tuple[str, ...] = ("text",)

    def __init__(
        self,
        db: AsyncDatabase[Document],
        cipher: FieldCipher,
        *,
        embedding_model: str | None = None,
    ) -> None:
        self._facts = db[names.MEMORIES]
        self._history = db[names.MEMORY_HISTORY]
        self._cipher = cipher
        self.vectors = VectorSpace(embedding_model)

    @property
    def collection(self) -> AsyncCollection[Document]:
        return self._facts

    def embedding_text(self, document: Document) -> str:
        """The text a stored fact's vector embeds (a passage)."""
        return self._cipher.decrypt(document["text"])

    def fingerprint(self, text: str) -> str:
        """What a tombstone stores of a deleted fact's text: a keyed digest, not the text."""
        return self._cipher.fingerprint(normalize(text))

    def fingerprints(self, text: str) -> frozenset[str]:
        """Every digest a tombstone of `text` may carry: keyed under the current and previous
        keys, and the unkeyed hash of tombstones written before fingerprints were keyed."""
        return frozenset((*self._cipher.fingerprints(normalize(text)), text_hash(text)))

    async def insert(self, fact: Fact, vector: Vector) -> Fact:
        stored = fact.model_copy(
            update={
                "created_at": to_millis(fact.created_at),
                "updated_at": to_millis(fact.updated_at),
            }
        )
        await self._facts.insert_one(
            {
                "_id": stored.id,
                "user_id": stored.user_id,
                "text": self._cipher.encrypt(stored.text),
                "category": stored.category.value,
                "importance": stored.importance,
                "refers_to": _date_to_bson(stored.refers_to),
                "source_message_ids": stored.source_message_ids,
                "persona_id": stored.persona_id,
                "created_at": stored.created_at,
                "updated_at": stored.updated_at,
                **self.vectors.fields(vector),
            }
        )
        return stored

    async def replace_text(
        self,
        current: Fact,
        new: Fact,
        vector: Vector,
        *,
        reason: str,
        now: datetime,
    ) -> Fact:
        """Give `current` the text (and details) of `new`, keeping the old text in history."""
        now = to_millis(now)
        await self._history.insert_one(
            {
                "kind": VERSION,
                "user_id": current.user_id,
                "fact_id": current.id,
                "text": self._cipher.encrypt(current.text),
                "reason": reason,
                "created_at": now,
            }
        )
        sources = list(dict.fromkeys([*current.source_message_ids, *new.source_message_ids]))
        await self._facts.update_one(
            {"_id": current.id, "user_id": current.user_id},
            {
                "$set": {
                    "text": self._cipher.encrypt(new.text),
                    "category": new.category.value,
                    "importance": max(new.importance, current.importance),
                    "refers_to": _date_to_bson(new.refers_to or current.refers_to),
                    "source_message_ids": sources,
                    "updated_at": now,
                    **self.vectors.fields(vector),
                },
                "$unset": {"text_hash": ""},  # an unkeyed digest left by an earlier release
            },
        )
        updated = await self.get(current.user_id, current.id, with_history=True)
        assert updated is not None
        return updated

    async def add_sources(self, user_id: int, fact_id: str, message_ids: Sequence[str]) -> None:
        """Note that more messages confirm an existing fact (a repeat is not stored twice)."""
        if message_ids:
            await self._facts.update_one(
                {"_id": fact_id, "user_id": user_id},
                {"$addToSet": {"source_message_ids": {"$each": list(message_ids)}}},
            )

    async def get(self, user_id: int, fact_id: str, *, with_history: bool = False) -> Fact | None:
        document = await self._facts.find_one({"_id": fact_id, "user_id": user_id})
        if document is None:
            return None
        fact = self._to_fact(document)
        if with_history:
            fact.history = await self._versions(user_id, fact_id)
        return fact

    async def all(self, user_id: int) -> list[Fact]:
        """Every fact of the user, oldest first."""
        cursor = self._facts.find({"user_id": user_id}).sort("created_at", ASCENDING)
        return [self._to_fact(document) async for document in cursor]

    async def get_many(self, user_id: int, fact_ids: Collection[str]) -> dict[str, Fact]:
        cursor = self._facts.find({"user_id": user_id, "_id": {"$in": list(fact_ids)}})
        return {str(document["_id"]): self._to_fact(document) async for document in cursor}

    async def delete(self, user_id: int, fact_id: str, *, tombstone: bool) -> Fact | None:
        """Remove a fact and its history; with `tombstone`, remember it must not come back."""
        document = await self._facts.find_one({"_id": fact_id, "user_id": user_id})
        if document is None:
            return None
        fact = self._to_fact(document)
        if tombstone:
            await self._history.insert_one(
                {
                    "kind": TOMBSTONE,
                    "user_id": user_id,
                    "fingerprint": self.fingerprint(fact.text),
                    "vector": document.get("vector"),
                    EMBEDDING_MODEL: document.get(EMBEDDING_MODEL),
                    "created_at": to_millis(datetime.now(UTC)),
                }
            )
        await self._facts.delete_one({"_id": fact_id, "user_id": user_id})
        await self._history.delete_many({"user_id": user_id, "kind": VERSION, "fact_id": fact_id})
        return fact

    async def tombstones(self, user_id: int) -> list[Tombstone]:
        cursor = self._history.find({"user_id": user_id, "kind": TOMBSTONE})
        return [
            Tombstone(
                text_hash=str(document.get("fingerprint") or document["text_hash"]),
                # A vector from another model is not comparable; the text hash still is.
                vector=from_bson(document["vector"]) if self.vectors.current(document) else None,
            )
            async for document in cursor
        ]

    async def forget(self, user_id: int) -> int:
        """Erase every fact, version and tombstone of the user; returns the facts removed.

        Also removes forget markers of an earlier release, which held the user id: the current
        marker (`mark_forgotten`) holds only a pseudonym and expires on its own."""
        result = await self._facts.delete_many({"user_id": user_id})
        await self._history.delete_many({"user_id": user_id})
        return int(result.deleted_count)

    async def discard(self, user_id: int, fact_ids: Collection[str]) -> None:
        """Remove facts and their versions without a tombstone (a pass's writes, undone)."""
        if not fact_ids:
            return
        await self._facts.delete_many({"user_id": user_id, "_id": {"$in": list(fact_ids)}})
        await self._history.delete_many(
            {"user_id": user_id, "kind": VERSION, "fact_id": {"$in": list(fact_ids)}}
        )

    async def mark_forgotten(self, user_id: int, at: datetime) -> ForgetMarker:
        result = await self._history.insert_one(
            {
                "kind": FORGOTTEN,
                "user_ref": self._cipher.pseudonym(user_id),
                "created_at": to_millis(at),
                # Removed by the server's TTL index (`companion.storage.indexes`).
                "expires_at": to_millis(datetime.now(UTC) + FORGET_MARKER_TTL),
            }
        )
        return ForgetMarker(id=str(result.inserted_id), at=to_millis(at))

    async def last_forgotten(self, user_id: int) -> ForgetMarker | None:
        """The user's latest forget marker, read from the database (another worker may have
        written it)."""
        document = await self._history.find_one(
            {"user_ref": self._cipher.pseudonym(user_id), "kind": FORGOTTEN},
            sort=[("created_at", DESCENDING)],
        )
        if document is None or not isinstance(document.get("created_at"), datetime):
            return None
        return ForgetMarker(id=str(document["_id"]), at=as_utc(document["created_at"]))

    async def load(self, user_id: int) -> list[MemoryRecord]:
        """The user's facts as retriever records (`RecordSource`)."""
        cursor = self._facts.find({"user_id": user_id})
        records: list[MemoryRecord] = []
        skipped = 0
        async for document in cursor:
            if not self.vectors.current(document):
                skipped += document.get("vector") is not None
                continue
            records.append(
                MemoryRecord(
                    id=str(document["_id"]),
                    text=self._cipher.decrypt(document["text"]),
                    time=as_utc(document["updated_at"]),
                    importance=float(document.get("importance", 3)),
                    vector=from_bson(document["vector"]),
                )
            )
        self.vectors.note_skipped(skipped)
        return records

    async def _versions(self, user_id: int, fact_id: str) -> list[FactVersion]:
        cursor = self._history.find({"user_id": user_id, "kind": VERSION, "fact_id": fact_id}).sort(
            "created_at", ASCENDING
        )
        return [
            FactVersion(
                text=self._cipher.decrypt(document["text"]),
                replaced_at=as_utc(document["created_at"]),
                reason=str(document.get("reason", "")),
            )
            async for document in cursor
        ]

    def _to_fact(self, document: Document) -> Fact:
        refers_to = document.get("refers_to")
        return Fact(
            id=str(document["_id"]),
            user_id=int(document["user_id"]),
            text=self._cipher.decrypt(document["text"]),
            category=FactCategory(document.get("category", FactCategory.OTHER.value)),
            importance=int(document.get("importance", 3)),
            refers_to=refers_to.date() if isinstance(refers_to, datetime) else None,
            source_message_ids=list(document.get("source_message_ids", [])),
            persona_id=document.get("persona_id"),
            created_at=as_utc(document["created_at"]),
            updated_at=as_utc(document["updated_at"]),
        )


def cosine_max(vector: Vector, others: Sequence[Vector]) -> float:
    """The highest cosine similarity of a normalised vector with normalised `others`."""
    if not others:
        return -1.0
    return float(np.max(np.stack(others) @ vector))
