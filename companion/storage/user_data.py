"""Everything stored about one person: export it (GDPR art. 15/20, 152-FZ) or erase it.

Erasure deletes the person's documents from every collection in
`collections.USER_DATA_FIELDS`. Payments are the exception: accounting and tax law require the
ledger to be kept, so each payment keeps only `PAYMENT_ACCOUNTING_FIELDS` and its `user_id` is
replaced by `user_ref`, a keyed hash (HMAC with a key derived from the encryption key), so the
row can no longer be tied to the person by reading the database.

The owner's reports keep daily sets of pseudonyms (`analytics_people`): the person is taken
out of them with their counts (`people_sets.forget_person`).

Crash safety: erase first records the user id in `erasures`, then deletes (profile first, so the
person immediately stops being a known user), strips payments, and removes the marker last.
Every step is idempotent, so re-running `erase` (or `finish_pending_erasures` at start-up)
after a crash half-way finishes the job.
"""

from __future__ import annotations

import base64
import logging
from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from bson import Binary, Decimal128, ObjectId
from pymongo import ASCENDING
from pymongo.asynchronous.database import AsyncDatabase

from companion.storage import collections as c
from companion.storage.crypto import DecryptionError, FieldCipher
from companion.storage.documents import Document, storage_now
from companion.storage.people_sets import forget_person

if TYPE_CHECKING:
    from companion.domain.ports import UserLocks

log = logging.getLogger(__name__)

EXPORT_FORMAT = "companion-export/1"

# Derived data that means nothing outside the service (embeddings) is not exported.
# A saved-card token is a credential of the shop, not information about the person.
_NOT_EXPORTED_KEYS = frozenset(
    {"user_id", "embedding", "embeddings", "vector", "vectors", "payment_method_id"}
)
# Collections with their own section in the export; any other user-data collection goes
# under "other". Episodes are embeddings of messages already exported, so they are left out.
_EXPORTED_EXPLICITLY = frozenset(
    {
        c.USERS,
        c.SUBSCRIPTIONS,
        c.MESSAGES,
        c.CONVERSATIONS,
        c.MEMORIES,
        c.MEMORY_HISTORY,
        c.EVENTS,
        c.EPISODES,
    }
)
_EXPORTED_PAYMENT_FIELDS = (
    "provider",
    "plan_id",
    "kind",
    "amount",
    "currency",
    "status",
    "refunded_amount",
    "created_at",
    "paid_at",
    "refunded_at",
)


class UserDataService:
    def __init__(
        self, db: AsyncDatabase[Document], cipher: FieldCipher, *, locks: UserLocks | None = None
    ) -> None:
        self._db = db
        self._cipher = cipher
        # The dialogue's per-user lock: an erase waits for a reply in flight, so that reply
        # cannot store its messages after the erase (appends do not check the conversation).
        self._locks = locks

    async def export(self, user_id: int) -> dict[str, Any]:
        """A JSON-serialisable copy of what is stored about the user, texts decrypted."""
        db = self._db
        profile = await db[c.USERS].find_one({"_id": user_id})
        subscription = await db[c.SUBSCRIPTIONS].find_one({"_id": user_id})
        messages_by_conversation: dict[str, list[dict[str, Any]]] = {}
        async for message in (
            db[c.MESSAGES]
            .find({"user_id": user_id})
            .sort([("conversation_id", ASCENDING), ("seq", ASCENDING)])
        ):
            messages_by_conversation.setdefault(str(message["conversation_id"]), []).append(
                {
                    "seq": message.get("seq"),
                    "role": message.get("role"),
                    "text": self._text(message.get("text")),
                    "source": message.get("source"),
                    "status": message.get("status"),
                    "created_at": _jsonable(message.get("created_at"), self._cipher),
                    "meta": _jsonable(message.get("meta", {}), self._cipher),
                }
            )
        conversations = []
        async for conversation in (
            db[c.CONVERSATIONS].find({"user_id": user_id}).sort("started_at", ASCENDING)
        ):
            conversation_id = str(conversation["_id"])
            conversations.append(
                {
                    "id": conversation_id,
                    "persona_id": conversation.get("persona_id"),
                    "started_at": _jsonable(conversation.get("started_at"), self._cipher),
                    "updated_at": _jsonable(conversation.get("updated_at"), self._cipher),
                    "active": conversation.get("active"),
                    "summary": self._text(conversation.get("summary", "")),
                    "messages": messages_by_conversation.pop(conversation_id, []),
                }
            )
        # Messages whose conversation document is gone still belong to the person.
        for conversation_id, messages in messages_by_conversation.items():
            conversations.append({"id": conversation_id, "messages": messages})

        return {
            "format": EXPORT_FORMAT,
            "exported_at": storage_now().isoformat(),
            "user_id": user_id,
            "profile": None if profile is None else self._clean(profile),
            "conversations": conversations,
            "facts": await self._all(c.MEMORIES, user_id),
            "fact_history": await self._all(c.MEMORY_HISTORY, user_id),
            "subscription": None if subscription is None else self._clean(subscription),
            "payments": [
                {key: _jsonable(payment.get(key), self._cipher) for key in _EXPORTED_PAYMENT_FIELDS}
                async for payment in db[c.PAYMENTS]
                .find({"user_id": user_id})
                .sort("created_at", ASCENDING)
            ],
            "other": {
                collection: await self._all(collection, user_id)
                for collection in c.USER_DATA_FIELDS
                if collection not in _EXPORTED_EXPLICITLY
            },
            "events": [
                {
                    "name": event.get("name"),
                    "at": _jsonable(event.get("at"), self._cipher),
                    "data": _jsonable(event.get("data", {}), self._cipher),
                }
                async for event in db[c.EVENTS].find({"user_id": user_id}).sort("at", ASCENDING)
            ],
        }

    async def erase(self, user_id: int) -> dict[str, int]:
        """Delete everything about the user; returns how many documents each collection lost.

        Idempotent: run it again after a crash and it completes what is left.
        """
        if self._locks is None:
            return await self._erase(user_id)
        async with self._locks.hold(user_id):
            return await self._erase(user_id)

    async def _erase(self, user_id: int) -> dict[str, int]:
        await self._db[c.ERASURES].update_one(
            {"_id": user_id}, {"$setOnInsert": {"started_at": storage_now()}}, upsert=True
        )
        counts: dict[str, int] = {}
        for collection, field in c.USER_DATA_FIELDS.items():
            result = await self._db[collection].delete_many({field: user_id})
            counts[collection] = result.deleted_count
        counts[c.PAYMENTS] = await self._strip_payments(user_id)
        # The owner's reports keep daily sets of pseudonyms: the person leaves them too.
        counts[c.ANALYTICS_PEOPLE] = await forget_person(self._db, self._cipher.pseudonym, user_id)
        await self._db[c.ERASURES].delete_one({"_id": user_id})
        log.info("erased user data: %s", counts)  # counts only: no user id in the log
        return counts

    async def pending_erasures(self) -> list[int]:
        return [int(row["_id"]) async for row in self._db[c.ERASURES].find({})]

    async def finish_pending_erasures(self) -> int:
        """Complete erasures a crash interrupted; call once at start-up. Returns how many."""
        pending = await self.pending_erasures()
        for user_id in pending:
            # Without the user's lock: the worker that crashed mid-erase may still hold it
            # until its lease runs out, and start-up must not wait minutes for that.
            await self._erase(user_id)
        if pending:
            log.warning("finished %d interrupted erasure(s)", len(pending))
        return len(pending)

    async def _strip_payments(self, user_id: int) -> int:
        payments = self._db[c.PAYMENTS]
        user_ref = self._cipher.pseudonym(user_id)
        stripped = 0
        async for payment in payments.find({"user_id": user_id}):
            kept = {
                key: value for key, value in payment.items() if key in c.PAYMENT_ACCOUNTING_FIELDS
            }
            kept["user_ref"] = user_ref
            kept["erased_at"] = storage_now()
            result = await payments.replace_one({"_id": payment["_id"], "user_id": user_id}, kept)
            stripped += result.modified_count
        return stripped

    async def _all(self, collection: str, user_id: int) -> list[Any]:
        field = c.USER_DATA_FIELDS.get(collection, "user_id")
        cursor = self._db[collection].find({field: user_id}).sort("_id", ASCENDING)
        return [self._clean(document) async for document in cursor]

    def _clean(self, document: Document) -> Any:
        data = {key: value for key, value in document.items() if key not in _NOT_EXPORTED_KEYS}
        if "_id" in data:
            data["id"] = data.pop("_id")
        return _jsonable(data, self._cipher)

    def _text(self, value: object) -> str | None:
        try:
            return self._cipher.decrypt(value)
        except DecryptionError:
            return None  # unreadable with the current key; exported as null, not as ciphertext


def _jsonable(value: object, cipher: FieldCipher) -> Any:
    """Plain JSON types; encrypted fields decrypted, other binary (vectors) left out as None."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Binary):  # vectors and other non-text binaries (subtype != 0)
        return None
    if isinstance(value, bytes):  # our encrypted envelope (subtype 0)
        try:
            return cipher.decrypt(value)
        except DecryptionError:
            return base64.b64encode(value).decode("ascii")
    if isinstance(value, Decimal128):
        return str(value.to_decimal())
    if isinstance(value, Decimal | ObjectId):
        return str(value)
    if isinstance(value, dict):
        return {
            str(key): _jsonable(item, cipher)
            for key, item in value.items()
            if key not in _NOT_EXPORTED_KEYS
        }
    if isinstance(value, list | tuple):
        return [_jsonable(item, cipher) for item in value]
    return str(value)
