"""The subscriptions store over MongoDB (one `subscriptions` document per user): the
`companion.billing.ports.Subscriptions` port. The state machine is `companion.billing.rules`.

Each change has an idempotency key (a payment's ledger key, or the kind of change plus the
document version it was decided on). A change is applied with a compare-and-set on the
document's `version`, and its key is pushed to the document's recent `applied_keys` in the same
write, so a retried or duplicated change (100 concurrent webhooks for one payment, a job that
crashed half-way) applies at most once. Every applied change is then written to
`subscription_transitions` with the key as `_id`: the audit trail of the ledger.
"""

from __future__ import annotations

import asyncio
import logging
import random
from datetime import datetime
from typing import Any, Protocol

from pydantic import ValidationError
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from companion.billing.metrics import BillingMetrics, unreadable_reason
from companion.billing.rules import (  # noqa: F401 (re-exported: where they used to live)
    TRANSITIONS,
    Change,
    ConcurrentUpdateError,
    Decide,
    InvalidTransitionError,
    check_transition,
    empty_subscription,
)
from companion.domain.models import Subscription, SubscriptionStatus
from companion.storage import collections as c
from companion.storage.crypto import DecryptionError, FieldCipher, PlaintextCipher
from companion.storage.documents import bson_ready, storage_now
from companion.storage.sealing import seal, unseal

log = logging.getLogger(__name__)

Document = dict[str, Any]
S = SubscriptionStatus

# How many recent change keys a document remembers; far more than can race for one user.
_RECENT_KEYS = 32
_MAX_ATTEMPTS = 500


class CacheInvalidator(Protocol):
    async def invalidate(self, user_id: int) -> None: ...


_SEALED = c.ENCRYPTED_TEXT_FIELDS[c.SUBSCRIPTIONS]


class SubscriptionStore:
    def __init__(
        self,
        db: AsyncDatabase[Document],
        cache: CacheInvalidator | None = None,
        *,
        metrics: BillingMetrics | None = None,
        cipher: FieldCipher | None = None,
    ) -> None:
        self._subscriptions = db[c.SUBSCRIPTIONS]
        # Seals the saved-card token / Stars charge id (`payment_method_id`) at rest.
        self._cipher: FieldCipher = cipher or PlaintextCipher()
        self._transitions = db[c.SUBSCRIPTION_TRANSITIONS]
        self._cache = cache
        self._metrics = metrics or BillingMetrics()

    async def get(self, user_id: int) -> Subscription | None:
        document = await self._subscriptions.find_one({"_id": user_id})
        return None if document is None else _model(document, self._cipher)

    async def due(self, statuses: list[SubscriptionStatus], before: datetime) -> list[Subscription]:
        """Subscriptions in `statuses` whose period (or grace) ends before `before`."""
        query: Document = {
            "status": {"$in": [status.value for status in statuses]},
            "$or": [
                {"current_period_end": {"$lt": before}},
                {"grace_until": {"$lt": before}},
            ],
        }
        found: list[Subscription] = []
        async for document in self._subscriptions.find(query):
            try:
                found.append(_model(document, self._cipher))
            except (ValidationError, DecryptionError, KeyError, ValueError) as exc:
                # One bad document must not stop renewals and expiry for everyone. Its `_id` is
                # a user id, so the log names the fields only; the metric makes it visible.
                self._metrics.unreadable(c.SUBSCRIPTIONS)
                log.error("a subscription document was skipped: %s", unreadable_reason(exc))
        return found

    async def forget(self, user_id: int) -> None:
        """Remove what changes wrote for a user whose erasure ran meanwhile (it had deleted
        their documents first): the subscription, its audit trail and the cached entitlement."""
        await self._subscriptions.delete_one({"_id": user_id})
        await self._transitions.delete_many({"user_id": user_id})
        if self._cache is not None:
            await self._cache.invalidate(user_id)

    async def transitions(self, user_id: int) -> list[Document]:
        cursor = self._transitions.find({"user_id": user_id}).sort("at", 1)
        return [document async for document in cursor]

    async def apply(self, user_id: int, key: str, reason: str, decide: Decide) -> Change:
        """Apply the change `decide` makes, once per `key`, with a compare-and-set.

        `decide(current, version)` gets the stored subscription (status none when there is no
        document) and returns the new one or None. The transition must be allowed.
        """
        if await self._transitions.find_one({"_id": key}, projection={"_id": 1}):
            current = await self.get(user_id) or empty_subscription(user_id)
            return Change(False, current, current)
        for attempt in range(_MAX_ATTEMPTS):
            document = await self._subscriptions.find_one({"_id": user_id})
            version = int(document.get("version", 0)) if document else 0
            current = _model(document, self._cipher) if document else empty_subscription(user_id)
            if document is not None and key in document.get("applied_keys", []):
                # Applied, but the audit record may be missing after a crash: write it now.
                await self._record(key, reason, current, current, version, repair=True)
                return Change(False, current, current)
            decided = decide(current, version)
            if decided is None:
                return Change(False, current, current)
            check_transition(current.status, decided.status)
            now = storage_now()
            new = decided.model_copy(update={"user_id": user_id, "updated_at": now})
            fields = seal(bson_ready(new.model_dump(mode="python")), _SEALED, self._cipher)
            if await self._write(user_id, version, fields, key, exists=document is not None):
                await self._record(key, reason, current, new, version + 1)
                if self._cache is not None:
                    await self._cache.invalidate(user_id)
                # The user's pseudonym, not the id: this line is also written while erasing
                # (renewals stopped first) and logs outlive the erasure.
                log.info(
                    "subscription of user ref %s: %s -> %s (%s)",
                    self._cipher.pseudonym(user_id)[:16],
                    current.status.value,
                    new.status.value,
                    reason,
                )
                return Change(True, current, new)
            # Someone else changed it first: back off a little and decide again on fresh data.
            await asyncio.sleep(random.uniform(0, 0.002 * min(attempt + 1, 20)))
        raise ConcurrentUpdateError(f"subscription {user_id} kept changing; gave up on {key}")

    async def _write(
        self, user_id: int, version: int, fields: Document, key: str, *, exists: bool
    ) -> bool:
        if not exists:
            try:
                await self._subscriptions.insert_one(
                    {**fields, "_id": user_id, "version": 1, "applied_keys": [key]}
                )
            except DuplicateKeyError:
                return False
            return True
        # A document saved without a version (by hand, or by `SubscriptionRepository.save`)
        # counts as version 0.
        expected: Document | int = {"$exists": False} if version == 0 else version
        result = await self._subscriptions.update_one(
            {"_id": user_id, "version": expected},
            {
                "$set": fields,
                "$inc": {"version": 1},
                "$push": {"applied_keys": {"$each": [key], "$slice": -_RECENT_KEYS}},
            },
        )
        return result.modified_count == 1

    async def _record(
        self,
        key: str,
        reason: str,
        before: Subscription,
        after: Subscription,
        version: int,
        *,
        repair: bool = False,
    ) -> None:
        record = {
            "user_id": after.user_id,
            "reason": reason,
            "from": before.status.value,
            "to": after.status.value,
            "plan_id": after.plan_id,
            "current_period_end": after.current_period_end,
            "version": version,
            "at": storage_now(),
        }
        if repair:
            record["from"] = None  # the state before was not seen: the crash lost it
        await self._transitions.update_one(
            {"_id": key}, {"$setOnInsert": bson_ready(record)}, upsert=True
        )


def _model(document: Document, cipher: FieldCipher) -> Subscription:
    opened = unseal(document, _SEALED, cipher)
    data = {key: value for key, value in opened.items() if key in Subscription.model_fields}
    data.setdefault("user_id", document["_id"])
    return Subscription.model_validate(data)
