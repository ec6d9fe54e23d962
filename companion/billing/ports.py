"""What billing needs from the outside, as ports the use cases depend on.

- `PaymentGateway`: the payment providers, one port with one member per provider, since their
  APIs share no call shape (YooKassa: payments and refunds by id; Telegram Stars: invoice links,
  subscriptions, refunds by user and charge, the transaction history). `YooKassaGateway` is
  implemented by `companion.billing.yookassa.YooKassaClient` (the official SDK), `StarsApi` by
  the Telegram front-end (`companion.bot`), so billing never imports aiogram.
- `Ledger` (payments) and `Subscriptions` (one document per user, keyed compare-and-set
  changes): implemented over MongoDB by `companion.billing.ledger.PaymentLedger` and
  `companion.billing.subscriptions.SubscriptionStore`; in-memory fakes for unit tests in
  `tests/unit/billing/fakes.py`.
- `Notifier` (telling a user) and `OwnerAlerts` (telling the shop's owner).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any, Protocol

from companion.billing.records import PaymentRecord, PaymentStatus, Provider
from companion.billing.rules import Change, Decide
from companion.billing.yookassa_models import Amount, YooPayment, YooRefund
from companion.domain.models import Subscription, SubscriptionStatus


class NoticeKind(StrEnum):
    ACTIVATED = "activated"
    RENEWED = "renewed"
    RENEWAL_FAILED = "renewal-failed"
    EXPIRED = "expired"
    REFUNDED = "refunded"
    GRANTED = "granted"


@dataclass(frozen=True, slots=True)
class BillingNotice:
    kind: NoticeKind
    plan_id: str
    until: datetime | None = None


class Notifier(Protocol):
    async def notify(self, user_id: int, notice: BillingNotice) -> None:
        """Tell the user; failures are the notifier's to log (a blocked bot is not an error)."""
        ...


@dataclass(frozen=True, slots=True)
class StarTransaction:
    """One line of the bot's Stars history (Bot API `StarTransaction`) that involves a user
    paying an invoice: an incoming payment, or (``refund`` true) the refund of one, which has
    the id of the payment it returns. Other kinds (withdrawals, gifts, ads) are not listed."""

    id: str  # the payment's telegram_payment_charge_id
    user_id: int
    amount: int
    date: datetime
    invoice_payload: str
    subscription_period: int | None = None
    refund: bool = False


class StarsApi(Protocol):
    """The Bot API calls Stars payments need."""

    async def create_invoice_link(
        self,
        *,
        title: str,
        description: str,
        payload: str,
        amount: int,
        subscription_period: int | None,
    ) -> str: ...

    async def answer_pre_checkout_query(
        self, query_id: str, ok: bool, error_message: str | None = None
    ) -> None: ...

    async def edit_user_star_subscription(
        self, user_id: int, telegram_payment_charge_id: str, is_canceled: bool
    ) -> None: ...

    async def refund_star_payment(self, user_id: int, telegram_payment_charge_id: str) -> None: ...

    async def get_star_transactions(self, offset: int, limit: int) -> list[StarTransaction | None]:
        """A page of the bot's Stars history, oldest first (``getStarTransactions``); None for an
        entry that is not an invoice payment or refund with a user, so pages keep their size."""
        ...


class YooKassaGateway(Protocol):
    """YooKassa's API v3. Every POST carries the idempotence key the caller stored in the ledger
    first. Raises `YooKassaUnavailableError` (retry later), `YooKassaRequestError` (refused, with
    its `status` and `code`), `YooKassaNotFoundError`."""

    async def create_payment(self, body: dict[str, Any], idempotence_key: str) -> YooPayment: ...

    async def get_payment(self, payment_id: str) -> YooPayment: ...

    async def capture_payment(
        self, payment_id: str, amount: Amount, idempotence_key: str
    ) -> YooPayment: ...

    async def cancel_payment(self, payment_id: str, idempotence_key: str) -> YooPayment: ...

    async def create_refund(
        self, payment_id: str, amount: Amount, idempotence_key: str, description: str = ""
    ) -> YooRefund: ...

    async def get_refund(self, refund_id: str) -> YooRefund: ...

    async def list_refunds(self, payment_id: str) -> list[YooRefund]: ...

    async def close(self) -> None: ...


@dataclass(slots=True)
class PaymentGateway:
    """The payment providers billing talks to; None = not configured. `stars` is set once the
    Bot exists (`BillingComponents.attach_telegram`)."""

    yookassa: YooKassaGateway | None = None
    stars: StarsApi | None = None


class OwnerAlerts(Protocol):
    """Tells the shop's owner about money that needs a human (a rejected payment, a refund
    YooKassa refused). Must not raise for a delivery problem; the text holds no personal data."""

    async def alert(self, text: str) -> None: ...


class Ledger(Protocol):
    """The payments ledger: records written before any provider call; conditional updates."""

    async def create(self, record: PaymentRecord) -> tuple[PaymentRecord, bool]:
        """Insert, or return the record already stored under its id / idempotency key / payment
        id (created False)."""
        ...

    async def create_erased(self, record: PaymentRecord) -> tuple[PaymentRecord, bool]: ...

    async def get(self, record_id: str) -> PaymentRecord | None: ...

    async def by_payment_id(self, provider: Provider, payment_id: str) -> PaymentRecord | None: ...

    async def by_payment_ids(
        self, provider: Provider, payment_ids: Iterable[str]
    ) -> dict[str, PaymentRecord]: ...

    async def update(
        self,
        record_id: str,
        *,
        expected: Iterable[PaymentStatus] | None = None,
        extra_filter: dict[str, Any] | None = None,
        **fields: Any,
    ) -> PaymentRecord | None:
        """Set `fields` when the status is one of `expected` (and `extra_filter` matches);
        the updated record, or None when the condition failed."""
        ...

    async def add_refund(
        self, record_id: str, refund_id: str, amount: Decimal, at: datetime
    ) -> PaymentRecord | None:
        """Count a refund once; None when it was counted already."""
        ...

    async def close(self, record_id: str, reason: str, at: datetime) -> PaymentRecord | None: ...

    async def payer_being_erased(self, user_id: int) -> bool: ...

    async def mark_granted(self, record_id: str) -> bool: ...

    async def needing_attention(
        self, provider: Provider, since: datetime
    ) -> list[PaymentRecord]: ...

    async def for_user(self, user_id: int, *, limit: int = 20) -> list[PaymentRecord]: ...

    async def open_for_user(self, user_id: int, provider: Provider) -> list[PaymentRecord]: ...

    async def last_paid(self, user_id: int) -> PaymentRecord | None: ...


class Subscriptions(Protocol):
    """One subscription per user, changed only by `apply` (once per key, compare-and-set)."""

    async def get(self, user_id: int) -> Subscription | None: ...

    async def due(
        self, statuses: list[SubscriptionStatus], before: datetime
    ) -> list[Subscription]: ...

    async def apply(self, user_id: int, key: str, reason: str, decide: Decide) -> Change: ...

    async def forget(self, user_id: int) -> None: ...
