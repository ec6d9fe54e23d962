"""The payment ledger (`payments` collection): one document per payment we asked for.

A record is written *before* the provider is called (status `creating`, with the idempotency key
that the outgoing request carries), so no payment the provider knows about is ever unknown to
us: a crash between the provider's answer and our write leaves a `creating` record that the
reconciliation job finishes with the same idempotency key. The provider's payment id is set
when known; `(provider, payment_id)` is unique (partial index in `companion.storage.indexes`).

State changes are conditional updates (`find_one_and_update` with the expected old status), so
concurrent webhooks, jobs and retries agree on one winner without any in-memory lock.

Erased payers: erasure (`companion.storage.user_data`) keeps a payment only as its accounting
fields, with `user_ref` (a keyed hash) and `erased_at` instead of `user_id`, idempotency key,
request body and period. `PaymentRecord` reads such a record (`erased` is true), so a payment
made after erasure can still be refunded. A document that cannot be read at all is skipped by
every list read here (logged by id, counted in `BillingMetrics`): one bad row never stops a
job for everyone.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from pydantic import ValidationError
from pymongo import ASCENDING, DESCENDING, ReturnDocument
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from companion.billing.metrics import BillingMetrics, unreadable_reason
from companion.billing.records import (
    OPEN_STATUSES,
    PaymentKind,
    PaymentRecord,
    PaymentStatus,
    Provider,
)
from companion.storage import collections as c
from companion.storage.crypto import DecryptionError, FieldCipher, PlaintextCipher
from companion.storage.documents import bson_ready, storage_now
from companion.storage.sealing import seal, unseal

log = logging.getLogger(__name__)

# The records' types live in `companion.billing.records`; named here too for older imports.
__all__ = [
    "OPEN_STATUSES",
    "Document",
    "PaymentKind",
    "PaymentLedger",
    "PaymentRecord",
    "PaymentStatus",
    "Provider",
]

Document = dict[str, Any]


_SEALED = ("payment_method_id",)
_SEALED_JSON = ("request_body",)


def _to_document(record: PaymentRecord, cipher: FieldCipher) -> Document:
    data = record.model_dump(mode="python", exclude_none=True)
    data["_id"] = data.pop("id")
    data["amount"] = str(record.amount)
    data["refunded_amount"] = str(record.refunded_amount)
    document: Document = seal(bson_ready(data), _SEALED, cipher, json_fields=_SEALED_JSON)
    return document


def _from_document(document: Document, cipher: FieldCipher) -> PaymentRecord:
    data = unseal(document, _SEALED, cipher, json_fields=_SEALED_JSON)
    data["id"] = data.pop("_id")
    return PaymentRecord.model_validate(data)


def _set_fields(fields: dict[str, Any]) -> Document:
    values: Document = {}
    for key, value in fields.items():
        if isinstance(value, Decimal):
            value = str(value)
        elif isinstance(value, StrEnum):
            value = value.value
        values[key] = value
    values["updated_at"] = storage_now()
    return bson_ready(values)  # type: ignore[no-any-return]


class PaymentLedger:
    def __init__(
        self,
        db: AsyncDatabase[Document],
        *,
        metrics: BillingMetrics | None = None,
        cipher: FieldCipher | None = None,
    ) -> None:
        self._payments = db[c.PAYMENTS]
        # Seals the saved-card token and the request body (it holds the token and the receipt
        # e-mail/phone) at rest; records written before read as they are.
        self._cipher: FieldCipher = cipher or PlaintextCipher()
        self._metrics = metrics or BillingMetrics()

    async def _read_all(self, cursor: Any) -> list[PaymentRecord]:
        """Every readable record of `cursor`; an unreadable one is logged and counted, not
        raised, so that one bad document cannot stop a job or a listing for everyone."""
        records: list[PaymentRecord] = []
        async for document in cursor:
            try:
                records.append(_from_document(document, self._cipher))
            except (ValidationError, DecryptionError, ValueError) as exc:
                self._metrics.unreadable(c.PAYMENTS)
                # The order id is a random hex; the fields named, not their values (they may
                # be personal): enough for an operator to find and fix the document.
                log.error(
                    "payment record %s skipped: unreadable (%s)",
                    document.get("_id"),
                    unreadable_reason(exc),
                )
        return records

    async def create(self, record: PaymentRecord) -> tuple[PaymentRecord, bool]:
        """Insert `record`; when its idempotency key (or provider id) is already there, return
        the stored record and False, so a retried request continues the first one."""
        assert record.user_id is not None and record.idempotency_key is not None
        try:
            await self._payments.insert_one(_to_document(record, self._cipher))
        except DuplicateKeyError:
            existing = await self.by_idempotency_key(record.idempotency_key)
            if existing is None and record.payment_id is not None:
                existing = await self.by_payment_id(record.provider, record.payment_id)
            if existing is None:
                raise
            return existing, False
        stored = await self.get(record.id)
        assert stored is not None
        return stored, True

    async def get(self, record_id: str) -> PaymentRecord | None:
        document = await self._payments.find_one({"_id": record_id})
        return None if document is None else _from_document(document, self._cipher)

    async def by_payment_id(self, provider: Provider, payment_id: str) -> PaymentRecord | None:
        document = await self._payments.find_one(
            {"provider": provider.value, "payment_id": payment_id}
        )
        return None if document is None else _from_document(document, self._cipher)

    async def by_idempotency_key(self, key: str) -> PaymentRecord | None:
        document = await self._payments.find_one({"idempotency_key": key})
        return None if document is None else _from_document(document, self._cipher)

    async def by_payment_ids(
        self, provider: Provider, payment_ids: Iterable[str]
    ) -> dict[str, PaymentRecord]:
        """The readable records among `payment_ids`, by payment id (one query for a page of a
        provider's history, as the Stars reconciliation reads it)."""
        ids = list(payment_ids)
        if not ids:
            return {}
        cursor = self._payments.find({"provider": provider.value, "payment_id": {"$in": ids}})
        return {
            record.payment_id: record
            for record in await self._read_all(cursor)
            if record.payment_id is not None
        }

    async def create_erased(self, record: PaymentRecord) -> tuple[PaymentRecord, bool]:
        """Insert a record that is pseudonymised from the start (`user_ref`, no `user_id`): a
        payment made by someone who had erased their data (a Stars renewal). Once per
        `(provider, payment_id)`; returns the stored record and False when it was there."""
        assert record.user_id is None and record.payment_id is not None
        document = {
            key: value
            for key, value in _to_document(record, self._cipher).items()
            if key in c.PAYMENT_ACCOUNTING_FIELDS or key in ("user_ref", "erased_at")
        }
        try:
            await self._payments.insert_one(document)
        except DuplicateKeyError:
            existing = await self.by_payment_id(record.provider, record.payment_id)
            if existing is None:
                raise
            return existing, False
        stored = await self.get(record.id)
        assert stored is not None
        return stored, True

    async def update(
        self,
        record_id: str,
        *,
        expected: Iterable[PaymentStatus] | None = None,
        extra_filter: Document | None = None,
        **fields: Any,
    ) -> PaymentRecord | None:
        """Set `fields` if the record's status is one of `expected` (any, when None); returns the
        updated record, or None when the condition did not hold (someone else moved it)."""
        query: Document = {"_id": record_id}
        if expected is not None:
            query["status"] = {"$in": [status.value for status in expected]}
        if extra_filter:
            query.update(extra_filter)
        values = seal(_set_fields(fields), _SEALED, self._cipher, json_fields=_SEALED_JSON)
        document = await self._payments.find_one_and_update(
            query, {"$set": values}, return_document=ReturnDocument.AFTER
        )
        return None if document is None else _from_document(document, self._cipher)

    async def add_refund(
        self, record_id: str, refund_id: str, amount: Decimal, at: datetime
    ) -> PaymentRecord | None:
        """Count a refund of the payment once; returns the updated record, or None if this
        refund was already counted (or there is no such record).

        Whatever the payment's status: a refund can be heard of before the payment's own news
        (notifications come in any order), and crediting then reads what is counted here.
        The total is kept as a decimal string, so it is advanced by compare-and-set on its
        previous value: two different refunds landing at once both count, one after the other.
        """
        for _ in range(8):
            current = await self.get(record_id)
            if (
                current is None
                or refund_id in current.refund_ids
                or refund_id == current.refund_id  # counted before `refund_ids` existed
            ):
                return None
            previous: Document = {"refunded_amount": str(current.refunded_amount)}
            if current.refunded_amount == 0:
                # Older records may lack the field, and "0" may be stored as "0.00".
                previous = {
                    "$or": [
                        {"refunded_amount": {"$exists": False}},
                        {"refunded_amount": {"$in": ["0", "0.00", "0.0"]}},
                    ]
                }
            document = await self._payments.find_one_and_update(
                {"_id": record_id, "refund_ids": {"$ne": refund_id}, **previous},
                {
                    "$set": _set_fields(
                        {
                            "refunded_amount": current.refunded_amount + amount,
                            "refund_id": refund_id,
                            "refunded_at": at,
                        }
                    ),
                    "$push": {"refund_ids": refund_id},
                },
                return_document=ReturnDocument.AFTER,
            )
            if document is not None:
                return _from_document(document, self._cipher)
        raise RuntimeError(f"payment {record_id}: refunds kept changing under us")

    async def close(self, record_id: str, reason: str, at: datetime) -> PaymentRecord | None:
        """Close a succeeded payment that will never be credited (see `closed_reason`); returns
        the record for the first caller only."""
        document = await self._payments.find_one_and_update(
            {"_id": record_id, "granted_at": None, "closed_at": None},
            {"$set": _set_fields({"closed_at": at, "closed_reason": reason})},
            return_document=ReturnDocument.AFTER,
        )
        return None if document is None else _from_document(document, self._cipher)

    async def payer_being_erased(self, user_id: int) -> bool:
        """True while an erasure of `user_id` runs (its `erasures` marker is there): a payment
        credited then would write the person's data back after the erasure deleted it."""
        marker = await self._payments.database[c.ERASURES].find_one(
            {"_id": user_id}, projection={"_id": 1}
        )
        return marker is not None

    async def mark_granted(self, record_id: str) -> bool:
        """Note that the subscription was credited; True only for the first caller."""
        result = await self._payments.update_one(
            {"_id": record_id, "granted_at": None},
            {"$set": _set_fields({"granted_at": storage_now()})},
        )
        return result.modified_count == 1

    async def needing_attention(self, provider: Provider, since: datetime) -> list[PaymentRecord]:
        """Records created after `since` that are still open, or paid but not yet credited: what
        the reconciliation job re-reads from the provider."""
        query: Document = {
            "provider": provider.value,
            "created_at": {"$gte": since},
            "$or": [
                {"status": {"$in": [status.value for status in OPEN_STATUSES]}},
                {"status": PaymentStatus.SUCCEEDED.value, "granted_at": None, "closed_at": None},
            ],
        }
        return await self._read_all(self._payments.find(query).sort("created_at", ASCENDING))

    async def for_user(self, user_id: int, *, limit: int = 20) -> list[PaymentRecord]:
        cursor = self._payments.find({"user_id": user_id}).sort("created_at", DESCENDING)
        return await self._read_all(cursor.limit(limit))

    async def open_for_user(self, user_id: int, provider: Provider) -> list[PaymentRecord]:
        cursor = self._payments.find(
            {
                "user_id": user_id,
                "provider": provider.value,
                "status": {"$in": [status.value for status in OPEN_STATUSES]},
            }
        )
        return await self._read_all(cursor)

    async def last_paid(self, user_id: int) -> PaymentRecord | None:
        cursor = (
            self._payments.find({"user_id": user_id, "status": PaymentStatus.SUCCEEDED.value})
            .sort("paid_at", DESCENDING)
            .limit(1)
        )
        for record in await self._read_all(cursor):
            return record
        return None
