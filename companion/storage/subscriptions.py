"""Subscriptions: one document per user (`_id` = `user_id`), the ONE repository of the
`subscriptions` collection (and of its audit trail, `subscription_transitions`).

Billing owns the state machine (`companion.billing.rules`) and changes a subscription only with
`apply`: each change has an idempotency key (a payment's ledger key, or the kind of change plus
a random or period id). It is applied with a compare-and-set on the document's `version`, and
its key is pushed to the document's recent `applied_keys` in the same write, so a retried or
duplicated change (100 concurrent webhooks for one payment, a job that crashed half-way) applies
at most once. Every applied change is then written to `subscription_transitions` with the key as
`_id`. `save` (fixtures, tools) replaces a document with the same version check.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from pydantic import ValidationError
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from companion.domain.models import Subscription, SubscriptionStatus
from companion.storage import collections as c
from companion.storage.crypto import DecryptionError, FieldCipher, PlaintextCipher
from companion.storage.documents import Document, bson_ready, storage_now, stored_copy
from companion.storage.sealing import seal, unseal

log = logging.getLogger(__name__)

# How many recent change keys a document remembers; far more than can race for one user.
_RECENT_KEYS = 32
_MAX_ATTEMPTS = 500
# The saved-card token / Stars charge id: sealed like message text.
SEALED_FIELDS = c.ENCRYPTED_TEXT_FIELDS[c.SUBSCRIPTIONS]
_SEALED = SEALED_FIELDS


class ConcurrentUpdateError(RuntimeError):
    """The document kept changing under us; the caller may retry later."""


@dataclass(frozen=True, slots=True)
class Change:
    """The outcome of `SubscriptionRepository.apply`."""

    applied: bool  # False: already applied earlier (same key), or nothing to change
    before: Subscription
    after: Subscription


# Decides the new subscription from the current one (and its version); None: nothing to do.
Decide = Callable[[Subscription, int], Subscription | None]
# Raises when a move from the first state to the second is not allowed.
CheckTransition = Callable[[SubscriptionStatus, SubscriptionStatus], None]


class CacheInvalidator(Protocol):
    async def invalidate(self, user_id: int) -> None: ...


def empty_subscription(user_id: int) -> Subscription:
    return Subscription(user_id=user_id, plan_id="", status=SubscriptionStatus.NONE)


def _unreadable_reason(exc: Exception) -> str:
    """The fields a document failed on, never their values (they may be personal data)."""
    if isinstance(exc, ValidationError):
        fields = sorted({str(error["loc"][0]) for error in exc.errors() if error["loc"]})
        return "invalid fields " + ", ".join(fields)
    return type(exc).__name__


class SubscriptionRepository:
    def __init__(
        self,
        db: AsyncDatabase[Document],
        cipher: FieldCipher | None = None,
        *,
        cache: CacheInvalidator | None = None,
        check: CheckTransition | None = None,
        on_unreadable: Callable[[str], None] | None = None,
    ) -> None:
        self._subscriptions = db[c.SUBSCRIPTIONS]
        # Seals the saved-card token / Stars charge id (`payment_method_id`) at rest.
        self._cipher: FieldCipher = cipher or PlaintextCipher()
        self._transitions = db[c.SUBSCRIPTION_TRANSITIONS]
        self._cache = cache
        # The state machine's check (billing's `rules.check_transition`); None: any move.
        self._check = check
        # Counts a document a list read skipped (billing's metrics).
        self._on_unreadable = on_unreadable

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
                if self._on_unreadable is not None:
                    self._on_unreadable(c.SUBSCRIPTIONS)
                log.error("a subscription document was skipped: %s", _unreadable_reason(exc))
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
            if self._check is not None:
                self._check(current.status, decided.status)
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

    async def save(self, subscription: Subscription) -> Subscription:
        """Insert or replace the user's subscription as a whole (fixtures, tools), with the same
        compare-and-set on `version` as `apply`, so it never overwrites a change made meanwhile
        unseen. Not a state change of billing's: no key, no audit record."""
        user_id = subscription.user_id
        fields = seal(bson_ready(subscription.model_dump(mode="python")), _SEALED, self._cipher)
        for attempt in range(_MAX_ATTEMPTS):
            document = await self._subscriptions.find_one(
                {"_id": user_id}, projection={"version": 1}
            )
            version = int(document.get("version", 0)) if document else 0
            if await self._write(user_id, version, fields, None, exists=document is not None):
                if self._cache is not None:
                    await self._cache.invalidate(user_id)
                return stored_copy(subscription)
            await asyncio.sleep(random.uniform(0, 0.002 * min(attempt + 1, 20)))
        raise ConcurrentUpdateError(f"subscription {user_id} kept changing; not saved")

    async def delete(self, user_id: int) -> bool:
        result = await self._subscriptions.delete_one({"_id": user_id})
        if self._cache is not None:
            await self._cache.invalidate(user_id)
        return result.deleted_count == 1

    async def _write(
        self, user_id: int, version: int, fields: Document, key: str | None, *, exists: bool
    ) -> bool:
        keys = [key] if key is not None else []
        if not exists:
            try:
                await self._subscriptions.insert_one(
                    {**fields, "_id": user_id, "version": 1, "applied_keys": keys}
                )
            except DuplicateKeyError:
                return False
            return True
        # A document saved without a version (by hand, or before versions) counts as 0.
        expected: Document | int = {"$exists": False} if version == 0 else version
        update: Document = {"$set": fields, "$inc": {"version": 1}}
        if keys:
            update["$push"] = {"applied_keys": {"$each": keys, "$slice": -_RECENT_KEYS}}
        result = await self._subscriptions.update_one({"_id": user_id, "version": expected}, update)
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
