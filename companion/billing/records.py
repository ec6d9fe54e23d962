"""The payment ledger's records: one per payment we asked for (or Telegram sent us).

Pure data, shared by the ledger port (`companion.billing.ports.Ledger`), its MongoDB adapter
(`companion.billing.ledger.PaymentLedger`) and the in-memory fake the unit tests use.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field

from companion.storage.documents import storage_now


class Provider(StrEnum):
    YOOKASSA = "yookassa"
    STARS = "telegram_stars"


class PaymentKind(StrEnum):
    INITIAL = "initial"
    RENEWAL = "renewal"


class PaymentStatus(StrEnum):
    CREATING = "creating"  # ledger written, provider not (yet) answered
    CREATE_FAILED = "create_failed"  # the provider refused or was unreachable: nothing to pay
    PENDING = "pending"
    WAITING_FOR_CAPTURE = "waiting_for_capture"
    SUCCEEDED = "succeeded"
    CANCELED = "canceled"
    # Closed by us: the provider's data disagrees with the ledger (amount, currency, metadata).
    # Nothing is granted; `failure_reason` says why and the owner was alerted once.
    REJECTED = "rejected"


OPEN_STATUSES = (PaymentStatus.CREATING, PaymentStatus.PENDING, PaymentStatus.WAITING_FOR_CAPTURE)


class PaymentRecord(BaseModel):
    id: str  # our order id, also sent to the provider in metadata
    provider: Provider
    payment_id: str | None = None  # the provider's id (YooKassa payment id, Stars charge id)
    # None only once the payer was erased (then `user_ref` and `erased_at` are set).
    user_id: int | None = None
    plan_id: str
    kind: PaymentKind = PaymentKind.INITIAL
    amount: Decimal
    currency: str
    period_days: int = 0  # what this payment buys, fixed when it is created (gone after erasure)
    status: PaymentStatus = PaymentStatus.CREATING
    idempotency_key: str | None = None  # always set until erasure
    description: str = ""
    confirmation_url: str | None = None
    # The exact body sent to the provider, to repeat it with the same idempotency key after a
    # crash (the provider then answers with the payment it already made, never a second one).
    request_body: dict[str, Any] | None = None
    payment_method_id: str | None = None
    # For renewals: the period end this charge extends (one renewal charge per period).
    renews_period_end: datetime | None = None
    failure_reason: str | None = None
    created_at: datetime = Field(default_factory=storage_now)
    updated_at: datetime = Field(default_factory=storage_now)
    paid_at: datetime | None = None
    # Set once the subscription was credited for this payment (after `paid_at`).
    granted_at: datetime | None = None
    # Refunds add up: YooKassa allows several partial refunds of one payment. `refund_ids`
    # lists every refund counted (a redelivered notification is not counted twice);
    # `refund_id` and `refunded_at` are the latest.
    refunded_amount: Decimal = Decimal("0")
    refund_ids: list[str] = Field(default_factory=list)
    refund_id: str | None = None
    refunded_at: datetime | None = None
    # A succeeded payment that will never be credited: refunded in full before it was credited
    # (`refunded`), or paid by someone who had erased their data, and refunded (`erased`).
    # `granted_at` or `closed_at`: either ends the reconciliation job's interest in it.
    closed_at: datetime | None = None
    closed_reason: str | None = None
    # Set by erasure instead of `user_id` (see the module docstring).
    user_ref: str | None = None
    erased_at: datetime | None = None

    @property
    def fully_refunded(self) -> bool:
        return self.refunded_amount >= self.amount

    @property
    def erased(self) -> bool:
        return self.user_id is None
