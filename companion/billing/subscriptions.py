"""The subscriptions repository as billing uses it: `companion.storage.subscriptions` (the one
repository of the collection) with billing's state machine checked on every change
(`rules.check_transition`) and unreadable documents counted in `BillingMetrics`. It implements
the `companion.billing.ports.Subscriptions` port."""

from __future__ import annotations

from pymongo.asynchronous.database import AsyncDatabase

from companion.billing.metrics import BillingMetrics
from companion.billing.rules import (
    TRANSITIONS,
    Change,
    ConcurrentUpdateError,
    Decide,
    InvalidTransitionError,
    check_transition,
    empty_subscription,
)
from companion.storage.crypto import FieldCipher
from companion.storage.documents import Document
from companion.storage.subscriptions import CacheInvalidator, SubscriptionRepository

__all__ = [
    "TRANSITIONS",
    "CacheInvalidator",
    "Change",
    "ConcurrentUpdateError",
    "Decide",
    "InvalidTransitionError",
    "SubscriptionStore",
    "check_transition",
    "empty_subscription",
]


class SubscriptionStore(SubscriptionRepository):
    def __init__(
        self,
        db: AsyncDatabase[Document],
        cache: CacheInvalidator | None = None,
        *,
        metrics: BillingMetrics | None = None,
        cipher: FieldCipher | None = None,
    ) -> None:
        metrics = metrics or BillingMetrics()
        super().__init__(
            db, cipher, cache=cache, check=check_transition, on_unreadable=metrics.unreadable
        )
