"""In-memory fakes of billing's ports (`companion.billing.ports`), for unit tests of the rules.

They keep the contracts the use cases rely on (the MongoDB adapters are tested against a real
server in tests/integration/billing): the ledger's conditional updates and once-only refunds,
and the subscriptions' apply-once-per-key with the transition table checked.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from companion.billing.ports import BillingNotice, StarTransaction
from companion.billing.records import OPEN_STATUSES, PaymentRecord, PaymentStatus, Provider
from companion.billing.rules import Change, Decide, check_transition, empty_subscription
from companion.billing.yookassa_models import (
    Amount,
    CancellationDetails,
    Confirmation,
    PaymentMethod,
    YooKassaNotFoundError,
    YooKassaRequestError,
    YooKassaUnavailableError,
    YooPayment,
    YooRefund,
)
from companion.domain.models import Event, Subscription, SubscriptionStatus, User


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


class FakeLedger:
    def __init__(self) -> None:
        self.records: dict[str, PaymentRecord] = {}
        self.erasing: set[int] = set()

    def _find(self, **match: Any) -> list[PaymentRecord]:
        return [
            r
            for r in self.records.values()
            if all(getattr(r, key) == value for key, value in match.items())
        ]

    async def create(self, record: PaymentRecord) -> tuple[PaymentRecord, bool]:
        for existing in self.records.values():
            if (
                existing.id == record.id
                or existing.idempotency_key == record.idempotency_key
                or (
                    record.payment_id is not None
                    and (existing.provider, existing.payment_id)
                    == (record.provider, record.payment_id)
                )
            ):
                return existing, False
        self.records[record.id] = record
        return record, True

    async def create_erased(self, record: PaymentRecord) -> tuple[PaymentRecord, bool]:
        found = await self.by_payment_id(record.provider, record.payment_id or "")
        if found is not None:
            return found, False
        self.records[record.id] = record
        return record, True

    async def get(self, record_id: str) -> PaymentRecord | None:
        return self.records.get(record_id)

    async def by_payment_id(self, provider: Provider, payment_id: str) -> PaymentRecord | None:
        found = self._find(provider=provider, payment_id=payment_id)
        return found[0] if found else None

    async def by_payment_ids(
        self, provider: Provider, payment_ids: Iterable[str]
    ) -> dict[str, PaymentRecord]:
        ids = set(payment_ids)
        return {
            r.payment_id: r
            for r in self._find(provider=provider)
            if r.payment_id is not None and r.payment_id in ids
        }

    async def update(
        self,
        record_id: str,
        *,
        expected: Iterable[PaymentStatus] | None = None,
        extra_filter: dict[str, Any] | None = None,
        **fields: Any,
    ) -> PaymentRecord | None:
        current = self.records.get(record_id)
        if current is None:
            return None
        if expected is not None and current.status not in list(expected):
            return None
        for key, value in (extra_filter or {}).items():
            if getattr(current, key) != value:
                return None
        updated = current.model_copy(update=fields)
        self.records[record_id] = updated
        return updated

    async def add_refund(
        self, record_id: str, refund_id: str, amount: Decimal, at: datetime
    ) -> PaymentRecord | None:
        current = self.records.get(record_id)
        if current is None or refund_id in current.refund_ids or refund_id == current.refund_id:
            return None
        updated = current.model_copy(
            update={
                "refunded_amount": current.refunded_amount + amount,
                "refund_id": refund_id,
                "refunded_at": at,
                "refund_ids": [*current.refund_ids, refund_id],
            }
        )
        self.records[record_id] = updated
        return updated

    async def close(self, record_id: str, reason: str, at: datetime) -> PaymentRecord | None:
        current = self.records.get(record_id)
        if current is None or current.granted_at is not None or current.closed_at is not None:
            return None
        updated = current.model_copy(update={"closed_at": at, "closed_reason": reason})
        self.records[record_id] = updated
        return updated

    async def payer_being_erased(self, user_id: int) -> bool:
        return user_id in self.erasing

    async def mark_granted(self, record_id: str) -> bool:
        current = self.records[record_id]
        if current.granted_at is not None:
            return False
        self.records[record_id] = current.model_copy(update={"granted_at": datetime.now(UTC)})
        return True

    async def needing_attention(self, provider: Provider, since: datetime) -> list[PaymentRecord]:
        return sorted(
            (
                r
                for r in self._find(provider=provider)
                if r.created_at >= since
                and (
                    r.status in OPEN_STATUSES
                    or (
                        r.status is PaymentStatus.SUCCEEDED
                        and r.granted_at is None
                        and r.closed_at is None
                    )
                )
            ),
            key=lambda r: r.created_at,
        )

    async def for_user(self, user_id: int, *, limit: int = 20) -> list[PaymentRecord]:
        found = sorted(self._find(user_id=user_id), key=lambda r: r.created_at, reverse=True)
        return found[:limit]

    async def open_for_user(self, user_id: int, provider: Provider) -> list[PaymentRecord]:
        found = self._find(user_id=user_id, provider=provider)
        return [r for r in found if r.status in OPEN_STATUSES]

    async def last_paid(self, user_id: int) -> PaymentRecord | None:
        paid = self._find(user_id=user_id, status=PaymentStatus.SUCCEEDED)
        paid.sort(key=lambda r: r.paid_at or r.created_at, reverse=True)
        return paid[0] if paid else None


class FakeSubscriptions:
    """Applies each key once, checks the transition table, keeps the audit trail."""

    def __init__(self) -> None:
        self.documents: dict[int, Subscription] = {}
        self.transitions: dict[str, tuple[int, str, str]] = {}  # key -> (user, from, to)

    async def get(self, user_id: int) -> Subscription | None:
        return self.documents.get(user_id)

    async def due(self, statuses: list[SubscriptionStatus], before: datetime) -> list[Subscription]:
        return [
            s
            for s in self.documents.values()
            if s.status in statuses
            and (
                (s.current_period_end is not None and s.current_period_end < before)
                or (s.grace_until is not None and s.grace_until < before)
            )
        ]

    async def apply(self, user_id: int, key: str, reason: str, decide: Decide) -> Change:
        current = self.documents.get(user_id) or empty_subscription(user_id)
        if key in self.transitions:
            return Change(False, current, current)
        decided = decide(current, 0)
        if decided is None:
            return Change(False, current, current)
        check_transition(current.status, decided.status)
        new = decided.model_copy(update={"user_id": user_id})
        self.documents[user_id] = new
        self.transitions[key] = (user_id, current.status.value, new.status.value)
        return Change(True, current, new)

    async def forget(self, user_id: int) -> None:
        self.documents.pop(user_id, None)
        self.transitions = {k: v for k, v in self.transitions.items() if v[0] != user_id}


class FakeUsers:
    def __init__(self) -> None:
        self.users: dict[int, User] = {}

    async def get(self, user_id: int) -> User | None:
        return self.users.get(user_id)

    async def upsert(self, user: User) -> User:
        self.users[user.id] = user
        return user

    async def update(self, user_id: int, **fields: Any) -> User | None:
        user = self.users.get(user_id)
        if user is None:
            return None
        self.users[user_id] = user.model_copy(update=fields)
        return self.users[user_id]


@dataclass
class FakeEvents:
    recorded: list[Event] = field(default_factory=list)

    async def record(self, event: Event) -> None:
        self.recorded.append(event)

    def names(self, user_id: int) -> list[str]:
        return [e.name for e in self.recorded if e.user_id == user_id]


@dataclass
class FakeNotifier:
    sent: list[tuple[int, BillingNotice]] = field(default_factory=list)

    async def notify(self, user_id: int, notice: BillingNotice) -> None:
        self.sent.append((user_id, notice))

    def kinds(self, user_id: int) -> list[str]:
        return [n.kind.value for uid, n in self.sent if uid == user_id]


@dataclass
class FakeAlerts:
    texts: list[str] = field(default_factory=list)

    async def alert(self, text: str) -> None:
        self.texts.append(text)


class FakeYooKassa:
    """YooKassa as the gateway port sees it: payments by id, idempotence keys, refunds."""

    def __init__(self) -> None:
        self.payments: dict[str, YooPayment] = {}
        self.refunds: dict[str, YooRefund] = {}
        self.keys: dict[str, str] = {}  # idempotence key -> object id
        self.calls: list[tuple[str, str]] = []  # (method, idempotence key or id)
        self.unavailable = False
        self.refuse_refunds: str | None = None  # an error code

    def _check(self) -> None:
        if self.unavailable:
            raise YooKassaUnavailableError("YooKassa answered 503")

    async def create_payment(self, body: dict[str, Any], idempotence_key: str) -> YooPayment:
        self._check()
        self.calls.append(("create_payment", idempotence_key))
        if idempotence_key in self.keys:
            return self.payments[self.keys[idempotence_key]]
        payment_id = f"pay-{len(self.payments) + 1}"
        amount = body["amount"]
        payment = YooPayment(
            id=payment_id,
            status="succeeded" if "payment_method_id" in body else "pending",
            amount=Amount(value=Decimal(amount["value"]), currency=amount["currency"]),
            metadata=body.get("metadata", {}),
            confirmation=Confirmation(type="redirect", confirmation_url=f"https://pay/{payment_id}")
            if "confirmation" in body
            else None,
        )
        self.payments[payment_id] = payment
        self.keys[idempotence_key] = payment_id
        return payment

    def pay(self, payment_id: str, *, saved_method: str | None = None) -> YooPayment:
        method = None
        if saved_method:
            method = PaymentMethod(type="bank_card", id=saved_method, saved=True)
        paid = self.payments[payment_id].model_copy(
            update={"status": "succeeded", "paid": True, "payment_method": method}
        )
        self.payments[payment_id] = paid
        return paid

    def cancel(self, payment_id: str, reason: str = "expired_on_confirmation") -> YooPayment:
        canceled = self.payments[payment_id].model_copy(
            update={
                "status": "canceled",
                "cancellation_details": CancellationDetails(party="yoo_money", reason=reason),
            }
        )
        self.payments[payment_id] = canceled
        return canceled

    def tamper(self, payment_id: str, **fields: Any) -> None:
        self.payments[payment_id] = self.payments[payment_id].model_copy(update=fields)

    async def get_payment(self, payment_id: str) -> YooPayment:
        self._check()
        if payment_id not in self.payments:
            raise YooKassaNotFoundError(404, "not_found", "no such payment")
        return self.payments[payment_id]

    async def capture_payment(
        self, payment_id: str, amount: Amount, idempotence_key: str
    ) -> YooPayment:
        self._check()
        return self.pay(payment_id)

    async def cancel_payment(self, payment_id: str, idempotence_key: str) -> YooPayment:
        self._check()
        self.calls.append(("cancel_payment", idempotence_key))
        return self.cancel(payment_id, "merchant_canceled")

    async def create_refund(
        self, payment_id: str, amount: Amount, idempotence_key: str, description: str = ""
    ) -> YooRefund:
        self._check()
        self.calls.append(("create_refund", idempotence_key))
        if self.refuse_refunds:
            raise YooKassaRequestError(400, self.refuse_refunds, "refused")
        if idempotence_key in self.keys:
            return self.refunds[self.keys[idempotence_key]]
        return self.refund(payment_id, amount.value, key=idempotence_key)

    def refund(self, payment_id: str, value: Decimal, *, key: str | None = None) -> YooRefund:
        """A refund made at YooKassa (by us, or in the dashboard)."""
        payment = self.payments[payment_id]
        refund = YooRefund(
            id=f"ref-{len(self.refunds) + 1}",
            payment_id=payment_id,
            status="succeeded",
            amount=Amount(value=value, currency=payment.amount.currency),
        )
        self.refunds[refund.id] = refund
        if key:
            self.keys[key] = refund.id
        before = payment.refunded_amount.value if payment.refunded_amount else Decimal(0)
        self.payments[payment_id] = payment.model_copy(
            update={
                "refunded_amount": Amount(value=before + value, currency=payment.amount.currency)
            }
        )
        return refund

    async def get_refund(self, refund_id: str) -> YooRefund:
        self._check()
        if refund_id not in self.refunds:
            raise YooKassaNotFoundError(404, "not_found", "no such refund")
        return self.refunds[refund_id]

    async def list_refunds(self, payment_id: str) -> list[YooRefund]:
        self._check()
        return [r for r in self.refunds.values() if r.payment_id == payment_id]

    async def close(self) -> None:
        return None


class FakeStarsApi:
    """Telegram's Stars calls, recorded."""

    def __init__(self) -> None:
        self.cancelled: list[tuple[int, str, bool]] = []
        self.refunded: list[tuple[int, str]] = []
        self.history: list[StarTransaction | None] = []
        self.links = 0

    async def create_invoice_link(
        self,
        *,
        title: str,
        description: str,
        payload: str,
        amount: int,
        subscription_period: int | None,
    ) -> str:
        self.links += 1
        return f"https://t.me/$invoice{self.links}"

    async def answer_pre_checkout_query(
        self, query_id: str, ok: bool, error_message: str | None = None
    ) -> None:
        return None

    async def edit_user_star_subscription(
        self, user_id: int, telegram_payment_charge_id: str, is_canceled: bool
    ) -> None:
        self.cancelled.append((user_id, telegram_payment_charge_id, is_canceled))

    async def refund_star_payment(self, user_id: int, telegram_payment_charge_id: str) -> None:
        self.refunded.append((user_id, telegram_payment_charge_id))

    async def get_star_transactions(self, offset: int, limit: int) -> list[StarTransaction | None]:
        return self.history[offset : offset + limit]
