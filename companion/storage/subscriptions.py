"""Subscriptions: one document per user (`_id` = `user_id`); billing owns the state machine."""

from __future__ import annotations

from pymongo.asynchronous.database import AsyncDatabase

from companion.domain.models import Subscription
from companion.storage import collections as c
from companion.storage.crypto import FieldCipher, PlaintextCipher
from companion.storage.documents import Document, bson_ready, stored_copy
from companion.storage.sealing import seal, unseal

# The saved-card token / Stars charge id: sealed like message text.
SEALED_FIELDS = c.ENCRYPTED_TEXT_FIELDS[c.SUBSCRIPTIONS]


class SubscriptionRepository:
    def __init__(self, db: AsyncDatabase[Document], cipher: FieldCipher | None = None) -> None:
        self._subscriptions = db[c.SUBSCRIPTIONS]
        self._cipher: FieldCipher = cipher or PlaintextCipher()

    async def get(self, user_id: int) -> Subscription | None:
        document = await self._subscriptions.find_one({"_id": user_id})
        if document is None:
            return None
        document.pop("_id")
        return Subscription.model_validate(unseal(document, SEALED_FIELDS, self._cipher))

    async def save(self, subscription: Subscription) -> Subscription:
        """Insert or replace the user's subscription as a whole."""
        document: Document = seal(
            bson_ready(subscription.model_dump(mode="python")), SEALED_FIELDS, self._cipher
        )
        document["_id"] = subscription.user_id
        await self._subscriptions.replace_one({"_id": subscription.user_id}, document, upsert=True)
        return stored_copy(subscription)

    async def delete(self, user_id: int) -> bool:
        result = await self._subscriptions.delete_one({"_id": user_id})
        return result.deleted_count == 1
