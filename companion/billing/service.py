"""The billing service: checkout, crediting verified payments, refunds, cancellation, grants.

Rules it keeps:
- Nothing is granted from what a notification *says*: a payment is credited only after the
  provider's API (or Telegram's own `successful_payment`) confirms it, and only when amount,
  currency and metadata match the ledger record we wrote before asking for the payment.
- A payment credits the subscription at most once: the ledger moves to `succeeded` with a
  conditional update, the subscription change is keyed by the payment
  (`SubscriptionStore.apply`), and `granted_at` is set last. A crash between any two steps is
  finished by the reconciliation job (`companion.billing.jobs`).
- Every outgoing request carries an idempotency key stored in the ledger first.
- Refunds count whatever order the news comes in, and crediting reads them first (and asks
  YooKassa for the payment's refunds): a payment refunded in full is never credited.
- A payment whose payer erased their data (`PaymentRecord.erased`) is never credited: it is
  refunded in full (an open checkout is cancelled where YooKassa allows it) and recorded.
- A payment the API contradicts is closed as `rejected` once, and the owner alerted once.
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Any, Protocol

from companion.billing import stars_subscriptions
from companion.billing.errors import (
    ContactRequiredError,
    InvalidContactError,
    NotCancellableError,
    NothingToRefundError,
    OfferNotAcceptedError,
    PaymentUnavailableError,
)
from companion.billing.ledger import (
    OPEN_STATUSES,
    PaymentKind,
    PaymentLedger,
    PaymentRecord,
    PaymentStatus,
    Provider,
)
from companion.billing.metrics import BillingMetrics
from companion.billing.plans import PlanCatalog
from companion.billing.ports import BillingNotice, NoticeKind, Notifier, StarsApi
from companion.billing.subscriptions import Change, SubscriptionStore
from companion.billing.yookassa import (
    Amount,
    YooKassaClient,
    YooKassaError,
    YooKassaNotFoundError,
    YooKassaRequestError,
    YooKassaUnavailableError,
    YooPayment,
    YooRefund,
)
from companion.config import BillingSettings, PlanSettings
from companion.domain.models import (
    Event,
    EventName,
    Subscription,
    SubscriptionStatus,
    User,
)
from companion.domain.ports import EventSink, UserStore
from companion.storage.documents import storage_now

log = logging.getLogger(__name__)

S = SubscriptionStatus
_EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_PHONE_RE = re.compile(r"^\+?\d{10,15}$")
# A checkout link still open this recently is shown again instead of creating a second payment.
_REUSE_CHECKOUT = timedelta(minutes=30)


class OwnerAlerts(Protocol):
    """Tells the shop's owner about money that needs a human (a rejected payment, a refund
    YooKassa refused). Must not raise for a delivery problem; the text holds no personal data."""

    async def alert(self, text: str) -> None: ...


class Outcome(StrEnum):
    """What handling one payment update did (for the webhook's log and the tests)."""

    CREDITED = "credited"  # the subscription was extended now
    ALREADY_DONE = "already_done"  # a duplicate: nothing changed
    PENDING = "pending"  # not paid yet
    CANCELED = "canceled"
    REFUNDED = "refunded"
    UNKNOWN = "unknown"  # not a payment of ours: nothing granted
    REJECTED = "rejected"  # the API disagrees with our ledger (amount, currency, metadata)


@dataclass(frozen=True, slots=True)
class Checkout:
    order_id: str
    confirmation_url: str
    plan: PlanSettings


@dataclass(frozen=True, slots=True)
class SubscriptionView:
    subscription: Subscription | None
    plan: PlanSettings | None
    has_pro: bool
    until: datetime | None  # when PRO ends (grace end while past due)
    can_cancel: bool
    can_resume: bool


def normalize_contact(text: str) -> str:
    """An e-mail (lower-cased) or a phone as digits with the country code (`79001234567`)."""
    value = text.strip()
    if _EMAIL_RE.match(value) and len(value) <= 254:
        return value.lower()
    digits = re.sub(r"[\s()\-]", "", value)
    if _PHONE_RE.match(digits):
        digits = digits.lstrip("+")
        if len(digits) == 11 and digits.startswith("8"):
            digits = "7" + digits[1:]  # Russian trunk prefix
        return digits
    raise InvalidContactError(text)


class BillingService:
    def __init__(
        self,
        settings: BillingSettings,
        plans: PlanCatalog,
        ledger: PaymentLedger,
        subscriptions: SubscriptionStore,
        users: UserStore,
        events: EventSink,
        *,
        yookassa: YooKassaClient | None = None,
        stars_api: StarsApi | None = None,
        notifier: Notifier | None = None,
        clock: Callable[[], datetime] = storage_now,
        metrics: BillingMetrics | None = None,
        alerts: OwnerAlerts | None = None,
    ) -> None:
        self.settings = settings
        self.plans = plans
        self.ledger = ledger
        self.subscriptions = subscriptions
        self._users = users
        self._events = events
        self._yookassa = yookassa
        self._stars_api = stars_api
        self.notifier = notifier
        self._clock = clock
        self.metrics = metrics or BillingMetrics()
        self.alerts = alerts

    @property
    def users(self) -> UserStore:
        return self._users

    def attach_stars_api(self, stars_api: StarsApi) -> None:
        """Set once the Bot exists (the bot is built after the services)."""
        self._stars_api = stars_api

    @property
    def yookassa_enabled(self) -> bool:
        return self._yookassa is not None

    def now(self) -> datetime:
        return self._clock()

    # -- the user's side ----------------------------------------------------------------------

    async def paywall_shown(self, user_id: int, persona_id: str | None = None) -> None:
        await self.record_event(user_id, EventName.PAYWALL_SHOWN, persona_id=persona_id)

    async def accept_offer(self, user_id: int) -> None:
        await self._users.update(user_id, offer_accepted_at=self.now())
        await self.record_event(user_id, EventName.OFFER_ACCEPTED)

    async def confirm_adult(self, user_id: int) -> None:
        await self._users.update(user_id, adult_confirmed_at=self.now())

    async def set_receipt_contact(self, user_id: int, text: str) -> str:
        contact = normalize_contact(text)
        await self._users.update(user_id, receipt_contact=contact)
        return contact

    async def view(self, user_id: int) -> SubscriptionView:
        subscription = await self.subscriptions.get(user_id)
        now = self.now()
        if subscription is None or subscription.status is S.NONE:
            return SubscriptionView(subscription, None, False, None, False, False)
        plan = self.plans.find(subscription.plan_id)
        has_pro = subscription.grants_pro(now)
        until = (
            subscription.grace_until
            if subscription.status is S.PAST_DUE
            else subscription.current_period_end
        )
        can_cancel = has_pro and subscription.auto_renew
        can_resume = (
            subscription.status is S.CANCELLED and has_pro and self._can_renew(subscription)
        )
        return SubscriptionView(subscription, plan, has_pro, until, can_cancel, can_resume)

    # -- YooKassa checkout --------------------------------------------------------------------

    async def start_yookassa_checkout(self, user: User, plan_id: str) -> Checkout:
        """A payment link for `plan_id`. Raises OfferNotAcceptedError, ContactRequiredError,
        PaymentUnavailableError (nothing is left half-created: the ledger record is closed)."""
        plan = self.plans.get(plan_id)
        if user.offer_accepted_at is None:
            raise OfferNotAcceptedError()
        if self.settings.receipt_required and not user.receipt_contact:
            raise ContactRequiredError()
        if self._yookassa is None:
            raise PaymentUnavailableError("YooKassa is not configured")
        for open_record in await self.ledger.open_for_user(user.id, Provider.YOOKASSA):
            if (
                open_record.plan_id == plan.id
                and open_record.kind is PaymentKind.INITIAL
                and open_record.confirmation_url
                and open_record.created_at > self.now() - _REUSE_CHECKOUT
            ):
                return Checkout(open_record.id, open_record.confirmation_url, plan)

        order_id = uuid.uuid4().hex
        new = self._yookassa_record(order_id, order_id, user, plan, PaymentKind.INITIAL)
        record, _ = await self.ledger.create(new)
        try:
            payment = await self._yookassa.create_payment(
                record.request_body or {}, record.idempotency_key or order_id
            )
        except YooKassaError as exc:
            await self.ledger.update(
                record.id,
                expected=[PaymentStatus.CREATING],
                status=PaymentStatus.CREATE_FAILED,
                failure_reason=str(exc)[:300],
            )
            log.warning("checkout for user %s failed: %s", user.id, exc)
            raise PaymentUnavailableError(str(exc)) from exc
        url = payment.confirmation.confirmation_url if payment.confirmation else None
        await self.ledger.update(
            record.id,
            expected=[PaymentStatus.CREATING],
            payment_id=payment.id,
            status=_ledger_status(payment.status),
            confirmation_url=url,
        )
        await self.subscriptions.apply(
            user.id, f"pending:{order_id}", "checkout", _pending_decision(plan.id)
        )
        await self.record_event(
            user.id,
            EventName.PAYMENT_CREATED,
            provider=Provider.YOOKASSA.value,
            plan_id=plan.id,
            order_id=order_id,
            amount=str(plan.price_rub),
            currency="RUB",
        )
        if url is None:
            # A redirect payment always has a link; without one the user cannot pay.
            raise PaymentUnavailableError("YooKassa returned no confirmation URL")
        return Checkout(order_id, url, plan)

    def _description(self, plan: PlanSettings, language: str) -> str:
        # YooKassa limits the description to 128 characters.
        return plan.title_for(language)[:128]

    def _yookassa_record(
        self,
        order_id: str,
        idempotency_key: str,
        user: User,
        plan: PlanSettings,
        kind: PaymentKind,
        *,
        payment_method_id: str | None = None,
        renews_period_end: datetime | None = None,
    ) -> PaymentRecord:
        """The ledger entry of a YooKassa payment, with the exact request body it will send."""
        description = self._description(plan, user.language)
        return PaymentRecord(
            id=order_id,
            provider=Provider.YOOKASSA,
            user_id=user.id,
            plan_id=plan.id,
            kind=kind,
            amount=plan.price_rub,
            currency="RUB",
            period_days=plan.period_days,
            idempotency_key=idempotency_key,
            description=description,
            request_body=self._payment_body(
                order_id, user, plan, kind, description, payment_method_id=payment_method_id
            ),
            created_at=self.now(),
            payment_method_id=payment_method_id,
            renews_period_end=renews_period_end,
        )

    def _payment_body(
        self,
        order_id: str,
        user: User,
        plan: PlanSettings,
        kind: PaymentKind,
        description: str,
        *,
        payment_method_id: str | None,
    ) -> dict[str, Any]:
        amount = Amount(value=plan.price_rub, currency="RUB").as_json()
        body: dict[str, Any] = {
            "amount": amount,
            "capture": True,
            "description": description,
            "metadata": {
                "order_id": order_id,
                "user_id": str(user.id),
                "plan_id": plan.id,
                "kind": kind.value,
            },
        }
        if payment_method_id is None:
            body["confirmation"] = {
                "type": "redirect",
                "return_url": self.settings.yookassa_return_url,
            }
            if self.settings.autopayments:
                body["save_payment_method"] = True
        else:
            body["payment_method_id"] = payment_method_id
        if self.settings.receipt_required and user.receipt_contact:
            contact = user.receipt_contact
            customer = {"email": contact} if "@" in contact else {"phone": contact}
            receipt: dict[str, Any] = {
                "customer": customer,
                "items": [
                    {
                        "description": description,
                        "quantity": "1.00",
                        "amount": amount,
                        "vat_code": self.settings.receipt_vat_code,
                        "payment_subject": self.settings.receipt_payment_subject,
                        "payment_mode": self.settings.receipt_payment_mode,
                    }
                ],
            }
            if self.settings.receipt_tax_system_code is not None:
                receipt["tax_system_code"] = self.settings.receipt_tax_system_code
            body["receipt"] = receipt
        return body

    # -- renewals (called by the renewal job) --------------------------------------------------

    async def charge_renewal(self, subscription: Subscription, attempt: int) -> Outcome:
        """Charge the saved payment method for the next period of `subscription`.

        The idempotency key names the user, the period and the attempt, so a job that runs twice
        (or crashed after sending) never charges twice for one attempt.
        """
        if self._yookassa is None or subscription.current_period_end is None:
            return Outcome.UNKNOWN
        user = await self._users.get(subscription.user_id)
        if user is None or subscription.payment_method_id is None:
            return Outcome.UNKNOWN
        period_end = subscription.current_period_end
        key = f"renew:{user.id}:{int(period_end.timestamp())}:{attempt}"
        plan = self.plans.find(subscription.plan_id)
        if plan is None:
            log.warning(
                "plan %s is no longer sold: user %s is not renewed", subscription.plan_id, user.id
            )
            await self.renewal_failed(user.id, key)
            return Outcome.CANCELED
        record, created = await self.ledger.create(
            self._yookassa_record(
                uuid.uuid4().hex,
                key,
                user,
                plan,
                PaymentKind.RENEWAL,
                payment_method_id=subscription.payment_method_id,
                renews_period_end=period_end,
            )
        )
        if not created and record.status is not PaymentStatus.CREATING:
            return Outcome.ALREADY_DONE
        return await self.send_created(record)

    async def send_created(self, record: PaymentRecord) -> Outcome:
        """Send (or send again, with the same key) the request of a `creating` ledger record."""
        assert self._yookassa is not None
        if record.request_body is None or record.idempotency_key is None:
            # The payer was erased before YooKassa answered: the request cannot be repeated (its
            # body named the payer). A payment YooKassa made for it still carries our order id,
            # so its notification is adopted (`_adopt`) and refunded.
            await self.ledger.update(
                record.id,
                expected=[PaymentStatus.CREATING],
                status=PaymentStatus.CREATE_FAILED,
                failure_reason="erased before YooKassa answered",
            )
            return Outcome.CANCELED
        try:
            payment = await self._yookassa.create_payment(
                record.request_body, record.idempotency_key
            )
        except YooKassaUnavailableError as exc:
            log.warning("payment %s not sent yet (%s); will retry", record.id, exc)
            return Outcome.PENDING
        except YooKassaRequestError as exc:
            failed = await self.ledger.update(
                record.id,
                expected=[PaymentStatus.CREATING],
                status=PaymentStatus.CREATE_FAILED,
                failure_reason=str(exc)[:300],
            )
            if failed is not None:
                await self._payment_failed(failed, exc.code)
            return Outcome.CANCELED
        attached = await self.ledger.update(
            record.id,
            expected=[PaymentStatus.CREATING],
            payment_id=payment.id,
            status=PaymentStatus.PENDING,
        )
        current = attached or await self.ledger.get(record.id)
        assert current is not None
        return await self.apply_yookassa_payment(current, payment)

    # -- payment updates (webhook, reconciliation, renewal answers) ------------------------------

    async def sync_yookassa_payment(self, payment_id: str) -> Outcome:
        """Re-read a payment from YooKassa and act on what the API says.

        Raises YooKassaUnavailableError when YooKassa cannot be asked (the caller retries).
        """
        if self._yookassa is None:
            return Outcome.UNKNOWN
        try:
            payment = await self._yookassa.get_payment(payment_id)
        except YooKassaNotFoundError:
            log.warning("payment notification for %s: YooKassa does not know it", payment_id)
            return Outcome.UNKNOWN
        record = await self.ledger.by_payment_id(Provider.YOOKASSA, payment.id)
        if record is None:
            record = await self._adopt(payment)
        if record is None:
            log.warning(
                "payment %s is not in our ledger (metadata %s): nothing granted",
                payment.id,
                sorted(payment.metadata),
            )
            return Outcome.UNKNOWN
        return await self.apply_yookassa_payment(record, payment)

    async def _adopt(self, payment: YooPayment) -> PaymentRecord | None:
        """A payment whose creation answer we lost (crash): find its ledger record by the order
        id we put in its metadata and attach the provider id."""
        order_id = payment.metadata.get("order_id")
        if not order_id:
            return None
        record = await self.ledger.get(order_id)
        if record is None or record.provider is not Provider.YOOKASSA:
            return None
        if record.payment_id is None:
            adopted = await self.ledger.update(
                record.id,
                expected=[PaymentStatus.CREATING, PaymentStatus.CREATE_FAILED],
                extra_filter={"payment_id": None},
                payment_id=payment.id,
                status=PaymentStatus.PENDING,
            )
            return adopted or await self.ledger.get(order_id)
        return record if record.payment_id == payment.id else None

    def _mismatch(self, record: PaymentRecord, payment: YooPayment) -> str | None:
        if payment.amount.value != record.amount:
            return f"amount {payment.amount.value} != {record.amount}"
        if payment.amount.currency != record.currency:
            return f"currency {payment.amount.currency} != {record.currency}"
        expected = {"order_id": record.id, "plan_id": record.plan_id}
        if record.user_id is not None:  # an erased record no longer knows its payer
            expected["user_id"] = str(record.user_id)
        for key, value in expected.items():
            if payment.metadata.get(key) != value:
                return f"metadata {key} does not match"
        return None

    async def apply_yookassa_payment(self, record: PaymentRecord, payment: YooPayment) -> Outcome:
        """Act on `payment` as read from YooKassa's API for our ledger `record`."""
        mismatch = self._mismatch(record, payment)
        if mismatch is not None:
            return await self._reject(record, payment, mismatch)
        if record.erased:
            return await self._settle_erased(record, payment)
        status = payment.status
        if status == "succeeded":
            method = payment.payment_method
            fields: dict[str, Any] = {"status": PaymentStatus.SUCCEEDED, "paid_at": self.now()}
            if method is not None and method.saved:
                fields["payment_method_id"] = method.id
            # Not on a record erasure stripped meanwhile: it must not get a card token back.
            updated = await self.ledger.update(
                record.id, expected=OPEN_STATUSES, extra_filter={"erased_at": None}, **fields
            )
            current = updated or await self.ledger.get(record.id)
            if current is not None and current.erased:
                return await self._settle_erased(current, payment)
            if current is None or current.status is not PaymentStatus.SUCCEEDED:
                log.error(
                    "payment %s succeeded at YooKassa but is %s here",
                    payment.id,
                    current.status if current else "gone",
                )
                return Outcome.REJECTED
            return await self.credit(current, payment)
        if status == "canceled":
            reason = payment.cancellation_details.reason if payment.cancellation_details else None
            updated = await self.ledger.update(
                record.id,
                expected=OPEN_STATUSES,
                status=PaymentStatus.CANCELED,
                failure_reason=reason,
            )
            if updated is None:
                return Outcome.ALREADY_DONE
            if not updated.erased:
                await self._payment_failed(updated, reason)
            return Outcome.CANCELED
        if status == "waiting_for_capture":
            # We ask for capture=true, so this is unusual (a shop set to two-stage payments):
            # capture the verified amount so the user is not left waiting.
            assert self._yookassa is not None
            captured = await self._yookassa.capture_payment(
                payment.id, payment.amount, f"capture:{record.id}"
            )
            if captured.status == "waiting_for_capture":
                return Outcome.PENDING
            return await self.apply_yookassa_payment(record, captured)
        await self.ledger.update(record.id, expected=[PaymentStatus.CREATING], status=status)
        return Outcome.PENDING

    async def _reject(self, record: PaymentRecord, payment: YooPayment, mismatch: str) -> Outcome:
        """Close a payment the API contradicts, once: nothing is granted, the owner is told once,
        and the reconciliation job stops re-reading it (it would log the same error for days)."""
        closed = await self.ledger.update(
            record.id,
            expected=OPEN_STATUSES,
            status=PaymentStatus.REJECTED,
            failure_reason=f"rejected: {mismatch}",
            closed_at=self.now(),
            closed_reason="rejected",
        )
        if closed is None:
            log.info("payment %s: rejected earlier (%s); nothing to do", payment.id, mismatch)
            return Outcome.REJECTED
        self.metrics.closed(record.provider.value, "rejected")
        await self._alert(
            f"YooKassa payment {payment.id} (order {record.id}, status {payment.status}) "
            f"rejected: API data disagrees with the ledger ({mismatch}). Nothing was granted; "
            "if money was taken, refund it in the YooKassa dashboard."
        )
        if not closed.erased:
            await self._payment_failed(closed, "rejected")
        return Outcome.REJECTED

    async def _settle_erased(self, record: PaymentRecord, payment: YooPayment) -> Outcome:
        """A payment whose payer erased their data: never credited. Cancelled where YooKassa
        allows it (waiting for capture), refunded in full once it has succeeded; a `pending`
        one cannot be cancelled by the shop, so it waits to be paid (then refunded) or to
        expire at YooKassa."""
        assert self._yookassa is not None
        if payment.status == "waiting_for_capture":
            payment = await self._yookassa.cancel_payment(payment.id, f"erased-cancel:{record.id}")
        if payment.status == "canceled":
            updated = await self.ledger.update(
                record.id,
                expected=OPEN_STATUSES,
                status=PaymentStatus.CANCELED,
                failure_reason=(
                    payment.cancellation_details.reason if payment.cancellation_details else None
                ),
            )
            if updated is not None:
                log.info("payment %s of an erased payer canceled", record.id)
            return Outcome.CANCELED if updated is not None else Outcome.ALREADY_DONE
        if payment.status != "succeeded":
            return Outcome.PENDING
        await self.ledger.update(
            record.id, expected=OPEN_STATUSES, status=PaymentStatus.SUCCEEDED, paid_at=self.now()
        )
        current = await self.ledger.get(record.id)
        assert current is not None
        return await self._refund_erased(current, payment)

    async def _refund_erased(self, record: PaymentRecord, payment: YooPayment | None) -> Outcome:
        """Refund what is left of a succeeded payment of an erased payer, then close it."""
        if record.closed_at is not None or record.granted_at is not None:
            return Outcome.ALREADY_DONE
        if record.provider is not Provider.YOOKASSA or self._yookassa is None:
            # Telegram refunds Stars only with the payer's user id, which erasure removed.
            closed = await self.ledger.close(record.id, "erased_not_refunded", self.now())
            if closed is not None:
                self.metrics.closed(record.provider.value, "erased_not_refunded")
                await self._alert(
                    f"{record.provider.value} payment {record.payment_id} (order {record.id}) "
                    "was made by an erased user and cannot be refunded automatically."
                )
            return Outcome.REJECTED
        record = await self._known_refunds(record, payment)
        remaining = record.amount - record.refunded_amount
        if remaining > 0:
            assert record.payment_id is not None
            try:
                # The amount is part of the key: a partial refund made meanwhile changes what
                # is left, and a reused key with another body is refused by YooKassa.
                refund = await self._yookassa.create_refund(
                    record.payment_id,
                    Amount(value=remaining, currency=record.currency),
                    f"erased-refund:{record.id}:{remaining}",
                )
            except YooKassaRequestError as exc:
                if exc.status in (401, 403):
                    raise  # our credentials: retried, not closed
                closed = await self.ledger.close(record.id, "erased_refund_refused", self.now())
                if closed is not None:
                    self.metrics.closed(record.provider.value, "erased_refund_refused")
                    await self._alert(
                        f"YooKassa refused to refund payment {record.payment_id} (order "
                        f"{record.id}) of an erased user ({exc.code}); refund it by hand."
                    )
                return Outcome.REJECTED
            if refund.status != "succeeded":
                return Outcome.PENDING  # the refund's notification (or the next run) finishes it
            record = await self.ledger.add_refund(
                record.id, refund.id, refund.amount.value, self.now()
            ) or await self._reread(record)
        if not record.fully_refunded:
            return Outcome.PENDING
        closed = await self.ledger.close(record.id, "erased", self.now())
        if closed is None:
            return Outcome.ALREADY_DONE
        self.metrics.closed(record.provider.value, "erased")
        log.info("payment %s of an erased payer refunded in full and closed", record.id)
        return Outcome.REFUNDED

    async def _reread(self, record: PaymentRecord) -> PaymentRecord:
        current = await self.ledger.get(record.id)
        assert current is not None
        return current

    async def _known_refunds(
        self, record: PaymentRecord, payment: YooPayment | None
    ) -> PaymentRecord:
        """The record with every refund YooKassa knows for it counted, so nothing is credited
        for a payment refunded (say, in the dashboard) before we heard of it being paid."""
        if (
            record.provider is not Provider.YOOKASSA
            or self._yookassa is None
            or record.payment_id is None
        ):
            return record
        if payment is None:
            payment = await self._yookassa.get_payment(record.payment_id)
        known = payment.refunded_amount.value if payment.refunded_amount else Decimal("0")
        if known <= record.refunded_amount:
            return record
        for refund in await self._yookassa.list_refunds(record.payment_id):
            if refund.payment_id == record.payment_id:
                await self._count_refund(record, refund)
        return await self._reread(record)

    async def credit(self, record: PaymentRecord, payment: YooPayment | None = None) -> Outcome:
        """Extend the subscription for a verified, succeeded payment (once per payment).

        A YooKassa payment is first checked for refunds (`payment` as just read from the API,
        or read now): one refunded in full is closed, never credited.
        """
        if record.granted_at is not None or record.closed_at is not None:
            return Outcome.ALREADY_DONE
        if record.erased:
            return await self._refund_erased(record, payment)
        record = await self._known_refunds(record, payment)
        if record.fully_refunded:
            closed = await self.ledger.close(record.id, "refunded", self.now())
            if closed is None:
                return Outcome.ALREADY_DONE
            self.metrics.closed(record.provider.value, "refunded")
            log.info("payment %s was refunded in full before it was credited: closed", record.id)
            return Outcome.REFUNDED
        user_id = record.user_id
        assert user_id is not None
        now = self.now()
        auto_renew = self._renews(record)

        def decide(current: Subscription, _version: int) -> Subscription:
            base = now
            if current.current_period_end is not None and current.status in (
                S.ACTIVE,
                S.CANCELLED,
                S.PAST_DUE,
            ):
                base = max(now, current.current_period_end)
            end = base + timedelta(days=record.period_days)
            if record.provider is Provider.STARS and record.renews_period_end is not None:
                # Telegram says when the Stars subscription period ends.
                end = max(end - timedelta(days=record.period_days), record.renews_period_end)
            renewal = (auto_renew, record.provider.value, record.payment_method_id)
            if (
                current.auto_renew
                and current.grants_pro(now)
                and (not auto_renew or current.provider != record.provider.value)
            ):
                # A one-off payment (or one through the other provider) on top of a renewing
                # subscription extends it but keeps its renewal: otherwise a Stars
                # subscription would keep charging with no way to cancel it from the bot.
                renewal = (True, current.provider or "", current.payment_method_id)
            return Subscription(
                user_id=user_id,
                plan_id=record.plan_id,
                status=S.ACTIVE,
                current_period_end=end,
                grace_until=None,
                auto_renew=renewal[0],
                provider=renewal[1],
                payment_method_id=renewal[2] if renewal[0] else None,
            )

        key = f"payment:{record.provider.value}:{record.payment_id or record.id}"
        if await self.ledger.payer_being_erased(user_id):
            # /forget is erasing the payer right now: crediting would write their data back.
            # Once the row is stripped, the next notification or job run refunds it.
            return Outcome.PENDING
        change = await self.subscriptions.apply(user_id, key, f"paid {record.id}", decide)
        after = await self._reread(record)
        if after.erased or await self.ledger.payer_being_erased(user_id):
            # The erasure ran while we credited (its delete came before our write): take back
            # what we wrote; the stripped row is refunded (now, or by the next job run). Each
            # side checks after its own write, so one of them sees the other.
            await self.subscriptions.forget(user_id)
            return await self._refund_erased(after, payment) if after.erased else Outcome.PENDING
        await self.ledger.mark_granted(record.id)
        # A refund counted while we credited (its own handler saw no PRO to take back yet):
        # take PRO back now. Each side checks after its own write, so one of them sees both.
        if after.fully_refunded and after.refund_id is not None:
            await self._revoke_for_refund(after, after.refund_id, after.refunded_amount)
            return Outcome.REFUNDED
        if not change.applied:
            return Outcome.ALREADY_DONE
        renewed = record.kind is PaymentKind.RENEWAL
        await self.record_event(
            user_id,
            EventName.RENEWED if renewed else EventName.PAID,
            provider=record.provider.value,
            plan_id=record.plan_id,
            order_id=record.id,
            amount=str(record.amount),
            currency=record.currency,
        )
        await self._notify(
            user_id,
            NoticeKind.RENEWED if renewed else NoticeKind.ACTIVATED,
            change.after,
        )
        return Outcome.CREDITED

    def _renews(self, record: PaymentRecord) -> bool:
        if record.provider is Provider.STARS:
            return record.payment_method_id is not None  # a Stars subscription, not one-off
        return self.settings.autopayments and record.payment_method_id is not None

    def _can_renew(self, subscription: Subscription) -> bool:
        if subscription.payment_method_id is None:
            return False
        if subscription.provider == Provider.STARS.value:
            return self._stars_api is not None
        return subscription.provider == Provider.YOOKASSA.value and self.settings.autopayments

    async def _payment_failed(self, record: PaymentRecord, reason: str | None) -> None:
        user_id = record.user_id
        if user_id is None:
            return  # an erased payer: no events, no subscription left to change
        await self.record_event(
            user_id,
            EventName.PAYMENT_FAILED,
            provider=record.provider.value,
            plan_id=record.plan_id,
            order_id=record.id,
            reason=reason,
            kind=record.kind.value,
        )
        if record.kind is PaymentKind.RENEWAL:
            await self.renewal_failed(user_id, record.id)
            return
        others = [
            other
            for other in await self.ledger.open_for_user(user_id, record.provider)
            if other.id != record.id
        ]
        if others:
            return  # another checkout is still open: stay pending

        def decide(current: Subscription, _version: int) -> Subscription | None:
            if current.status is not S.PENDING:
                return None
            back = S.EXPIRED if current.current_period_end is not None else S.NONE
            return current.model_copy(update={"status": back})

        await self.subscriptions.apply(
            user_id, f"payment-canceled:{record.id}", "payment canceled", decide
        )

    async def renewal_failed(self, user_id: int, order_id: str) -> Change:
        """A renewal charge failed: past due until the grace period ends (PRO kept meanwhile)."""
        grace = timedelta(days=self.settings.grace_period_days)

        def decide(current: Subscription, _version: int) -> Subscription | None:
            if current.status is not S.ACTIVE or current.current_period_end is None:
                return None
            return current.model_copy(
                update={"status": S.PAST_DUE, "grace_until": current.current_period_end + grace}
            )

        change = await self.subscriptions.apply(
            user_id, f"renewal-failed:{order_id}", "renewal failed", decide
        )
        if change.applied:
            await self._notify(user_id, NoticeKind.RENEWAL_FAILED, change.after)
        return change

    # -- refunds ------------------------------------------------------------------------------

    async def sync_yookassa_refund(self, refund_id: str, payment_id: str) -> Outcome:
        """Re-read a refund from YooKassa; act only when it succeeded for the payment named.

        The refund counts whatever the payment's state here: its notification can come before
        the payment's own (or the payment's was lost). The payment is then re-read too, so it is
        closed (refunded in full) or credited (partly refunded) at once, not only by the job.
        """
        if self._yookassa is None:
            return Outcome.UNKNOWN
        try:
            refund = await self._yookassa.get_refund(refund_id)
        except YooKassaNotFoundError:
            log.warning("refund notification for %s: YooKassa does not know it", refund_id)
            return Outcome.UNKNOWN
        if refund.payment_id != payment_id:
            log.error("refund %s: payment id in the notification does not match", refund_id)
            return Outcome.REJECTED
        record = await self.ledger.by_payment_id(Provider.YOOKASSA, refund.payment_id)
        if record is None:
            # Not heard of as paid yet, perhaps not even created (its creation answer lost):
            # learn the payment from the API, which adopts it by the order id in its metadata.
            await self.sync_yookassa_payment(refund.payment_id)
            record = await self.ledger.by_payment_id(Provider.YOOKASSA, refund.payment_id)
        if record is None:
            log.warning("refund %s is for a payment not in our ledger", refund_id)
            return Outcome.UNKNOWN
        outcome = await self._apply_yookassa_refund(record, refund)
        current = await self._reread(record)
        if current.granted_at is None and current.closed_at is None:
            paid = await self.sync_yookassa_payment(refund.payment_id)
            if outcome is Outcome.ALREADY_DONE and paid is Outcome.REFUNDED:
                outcome = paid
        return outcome

    async def _apply_yookassa_refund(self, record: PaymentRecord, refund: YooRefund) -> Outcome:
        if refund.status != "succeeded":
            return Outcome.PENDING
        if not self._refund_fits(record, refund):
            return Outcome.REJECTED
        return await self.record_refund(record, refund.id, refund.amount.value)

    def _refund_fits(self, record: PaymentRecord, refund: YooRefund) -> bool:
        if refund.amount.currency != record.currency or refund.amount.value > record.amount:
            log.error("refund %s does not fit payment %s", refund.id, record.id)
            return False
        return True

    async def _count_refund(self, record: PaymentRecord, refund: YooRefund) -> None:
        """Count a succeeded refund before crediting (nothing to take back yet)."""
        if refund.status == "succeeded" and self._refund_fits(record, refund):
            await self.ledger.add_refund(record.id, refund.id, refund.amount.value, self.now())

    async def record_refund(
        self, record: PaymentRecord, refund_id: str, amount: Decimal
    ) -> Outcome:
        updated = await self.ledger.add_refund(record.id, refund_id, amount, self.now())
        if updated is None:
            return Outcome.ALREADY_DONE
        if updated.erased:
            # An erased payer's payment (our automatic refund, or one from the dashboard): no
            # subscription to change; once all is back and it was never credited, it is closed.
            if (
                updated.fully_refunded
                and updated.status is PaymentStatus.SUCCEEDED
                and updated.granted_at is None
                and await self.ledger.close(record.id, "erased", self.now()) is not None
            ):
                self.metrics.closed(record.provider.value, "erased")
            return Outcome.REFUNDED
        if updated.granted_at is None:
            # Refunded before it was credited: counted now, read by `credit`, which closes a
            # payment refunded in full instead of granting PRO.
            log.info(
                "refund %s of payment %s counted before the payment was credited",
                refund_id,
                record.id,
            )
            return Outcome.REFUNDED
        if not updated.fully_refunded:
            # A goodwill refund of part of the price: the period stays paid for. Partial refunds
            # that add up to the whole price revoke PRO like a full one.
            log.info(
                "partial refund %s of payment %s (%s of %s refunded): PRO kept",
                refund_id,
                record.id,
                updated.refunded_amount,
                updated.amount,
            )
            return Outcome.REFUNDED
        await self._revoke_for_refund(updated, refund_id, amount)
        return Outcome.REFUNDED

    async def _revoke_for_refund(
        self, record: PaymentRecord, refund_id: str, amount: Decimal
    ) -> None:
        """PRO ends now for a payment refunded in full (keyed by the refund: applied once)."""
        user_id = record.user_id
        if user_id is None:
            return
        now = self.now()

        def decide(current: Subscription, _version: int) -> Subscription | None:
            if current.status not in (S.ACTIVE, S.PAST_DUE, S.CANCELLED, S.EXPIRED):
                return None
            return current.model_copy(
                update={
                    "status": S.REFUNDED,
                    "current_period_end": now,
                    "grace_until": None,
                    "auto_renew": False,
                }
            )

        change = await self.subscriptions.apply(
            user_id, f"refund:{record.provider.value}:{refund_id}", "refunded", decide
        )
        if not change.applied:
            return
        await self.record_event(
            user_id,
            EventName.REFUNDED,
            provider=record.provider.value,
            plan_id=record.plan_id,
            order_id=record.id,
            amount=str(amount),
            currency=record.currency,
        )
        await self._notify(user_id, NoticeKind.REFUNDED, change.after)

    async def find_payment(self, reference: str) -> PaymentRecord | None:
        """A user id (their last paid payment), a provider payment id, or our order id."""
        reference = reference.strip()
        if reference.isdigit():
            return await self.ledger.last_paid(int(reference))
        for provider in Provider:
            record = await self.ledger.by_payment_id(provider, reference)
            if record is not None:
                return record
        return await self.ledger.get(reference)

    async def refund(self, reference: str) -> Outcome:
        """Admin refund of a whole payment; revokes PRO when the refund succeeds."""
        record = await self.find_payment(reference)
        if record is None or record.status is not PaymentStatus.SUCCEEDED:
            raise NothingToRefundError(reference)
        if record.fully_refunded:
            return Outcome.ALREADY_DONE
        assert record.payment_id is not None
        # What is left after earlier partial refunds (made in the YooKassa dashboard).
        remaining = record.amount - record.refunded_amount
        if record.provider is Provider.STARS:
            if self._stars_api is None:
                raise PaymentUnavailableError("Stars are not configured")
            if record.user_id is None:
                raise NothingToRefundError(reference)  # Telegram needs the erased payer's id
            await self._stars_api.refund_star_payment(record.user_id, record.payment_id)
            return await self.record_refund(record, f"stars:{record.payment_id}", remaining)
        if self._yookassa is None:
            raise PaymentUnavailableError("YooKassa is not configured")
        try:
            # The amount is in the key: after a partial refund made meanwhile, a retried
            # /refund asks for what is left, which YooKassa refuses under a reused key.
            refund = await self._yookassa.create_refund(
                record.payment_id,
                Amount(value=remaining, currency=record.currency),
                f"refund:{record.id}:{remaining}",
                description=record.description[:250],
            )
        except YooKassaUnavailableError as exc:
            raise PaymentUnavailableError(str(exc)) from exc
        except YooKassaRequestError as exc:
            raise NothingToRefundError(exc.description) from exc
        return await self._apply_yookassa_refund(record, refund)

    # -- cancel, resume, grant ------------------------------------------------------------------

    async def cancel(self, user_id: int) -> Subscription:
        """Stop renewals; PRO stays until the period (or grace) ends."""
        subscription = await self.subscriptions.get(user_id)
        if subscription is None or not subscription.auto_renew:
            raise NotCancellableError()
        if (
            subscription.provider == Provider.STARS.value
            and subscription.payment_method_id
            and self._stars_api is not None
        ):
            await self._stars_api.edit_user_star_subscription(
                user_id, subscription.payment_method_id, True
            )
        # Any other Stars subscription the ledger knows (two purchases that raced) stops too,
        # before anything changes here: a Bot API error leaves all as it was, to retry.
        await self._cancel_star_subscriptions(user_id, skip=[subscription.payment_method_id or ""])

        def decide(current: Subscription, version: int) -> Subscription | None:
            if current.status not in (S.ACTIVE, S.PAST_DUE) or not current.auto_renew:
                return None
            end = current.current_period_end
            if current.status is S.PAST_DUE:
                end = current.grace_until  # keep the rest of the grace period
            return current.model_copy(
                update={
                    "status": S.CANCELLED,
                    "auto_renew": False,
                    "current_period_end": end,
                    "grace_until": None,
                }
            )

        change = await self.subscriptions.apply(
            user_id, f"cancel:{user_id}:{uuid.uuid4().hex}", "cancelled by user", decide
        )
        if not change.applied:
            raise NotCancellableError()
        await self.record_event(user_id, EventName.CANCELLED, plan_id=change.after.plan_id)
        return change.after

    async def stop_renewals(self, user_id: int) -> bool:
        """Cancel renewals before /forget erases the user: Telegram goes on charging a Stars
        subscription whose record we deleted. False when nothing renews; a Bot API or store
        error propagates, and then the user's data must not be erased.

        Open YooKassa checkouts are settled first, best effort (`close_open_checkouts`).
        """
        await self.close_open_checkouts(user_id)
        try:
            await self.cancel(user_id)
        except NotCancellableError:
            # Nothing renews on the subscription itself; a Stars subscription it no longer
            # names may still be charging (every live one in the ledger is stopped).
            return bool(await self._cancel_star_subscriptions(user_id))
        return True

    async def _cancel_star_subscriptions(
        self, user_id: int, *, skip: Iterable[str] = ()
    ) -> list[str]:
        if self._stars_api is None:
            return []
        return await stars_subscriptions.cancel_subscriptions(
            self._stars_api, self.ledger, user_id, self.now(), skip=skip
        )

    async def close_open_checkouts(self, user_id: int) -> None:
        """Before erasure: cancel the user's open YooKassa payments where YooKassa allows it
        (only a payment waiting for capture can be cancelled by the shop), and settle those
        already decided. A `pending` link stays payable at YooKassa; if it is paid after the
        erasure, the payment is refunded automatically (`_settle_erased`). Never raises: what
        is not settled now is settled by that refund path."""
        if self._yookassa is None:
            return
        try:
            records = await self.ledger.open_for_user(user_id, Provider.YOOKASSA)
        except Exception:  # the erasure that follows reports a database problem itself
            log.warning("open checkouts of a user being erased could not be read")
            return
        for record in records:
            if record.payment_id is None:
                continue
            try:
                payment = await self._yookassa.get_payment(record.payment_id)
                if payment.status == "waiting_for_capture":
                    payment = await self._yookassa.cancel_payment(
                        payment.id, f"erased-cancel:{record.id}"
                    )
                await self.apply_yookassa_payment(record, payment)
            except Exception as exc:  # settled later by the refund path; erasure goes on
                log.warning(
                    "open payment %s not settled before erasure (%s); a payment that still "
                    "arrives will be refunded",
                    record.id,
                    type(exc).__name__,
                )

    async def resume(self, user_id: int) -> Subscription:
        """Turn renewal back on for a cancelled subscription that has not ended yet."""
        subscription = await self.subscriptions.get(user_id)
        if (
            subscription is None
            or subscription.status is not S.CANCELLED
            or not subscription.grants_pro(self.now())
            or not self._can_renew(subscription)
        ):
            raise NotCancellableError()
        if subscription.provider == Provider.STARS.value and self._stars_api is not None:
            assert subscription.payment_method_id is not None
            await self._stars_api.edit_user_star_subscription(
                user_id, subscription.payment_method_id, False
            )

        def decide(current: Subscription, _version: int) -> Subscription | None:
            if current.status is not S.CANCELLED:
                return None
            return current.model_copy(update={"status": S.ACTIVE, "auto_renew": True})

        change = await self.subscriptions.apply(
            user_id, f"resume:{user_id}:{uuid.uuid4().hex}", "resumed by user", decide
        )
        if not change.applied:
            raise NotCancellableError()
        return change.after

    async def grant(self, user_id: int, plan_id: str, days: int, *, by: int) -> Subscription:
        """Give PRO for `days` (support, promotions); adds to a running period."""
        plan = self.plans.get(plan_id)
        if days <= 0 or days > 3660:
            raise ValueError("days must be between 1 and 3660")
        now = self.now()

        def decide(current: Subscription, _version: int) -> Subscription:
            end = current.current_period_end
            running = current.grants_pro(now) and end is not None
            base = max(now, end) if running and end is not None else now
            keep = running and current.status in (S.ACTIVE, S.CANCELLED)
            return Subscription(
                user_id=user_id,
                plan_id=plan.id,
                status=S.ACTIVE if not keep else current.status,
                current_period_end=base + timedelta(days=days),
                auto_renew=current.auto_renew if keep else False,
                provider=current.provider if keep else "grant",
                payment_method_id=current.payment_method_id if keep else None,
            )

        change = await self.subscriptions.apply(
            user_id, f"grant:{by}:{user_id}:{uuid.uuid4().hex}", f"granted by {by}", decide
        )
        await self._notify(user_id, NoticeKind.GRANTED, change.after)
        return change.after

    # -- helpers ------------------------------------------------------------------------------

    async def _alert(self, text: str) -> None:
        """One clear log line, and the owner's alert channel when there is one."""
        log.error("billing alert: %s", text)
        if self.alerts is None:
            return
        try:
            await self.alerts.alert(text)
        except Exception:  # the log line above is the record; the channel is best effort
            log.exception("could not deliver a billing alert to the owner")

    async def record_event(self, user_id: int, name: EventName, **data: Any) -> None:
        try:
            await self._events.record(Event(user_id=user_id, name=name.value, data=data))
        except Exception:  # analytics must never break a payment
            log.exception("could not record billing event %s", name.value)

    async def _notify(self, user_id: int, kind: NoticeKind, subscription: Subscription) -> None:
        if self.notifier is None:
            return
        until = (
            subscription.grace_until
            if subscription.status is S.PAST_DUE
            else subscription.current_period_end
        )
        try:
            await self.notifier.notify(user_id, BillingNotice(kind, subscription.plan_id, until))
        except Exception:  # telling the user is best effort; the state is already stored
            log.exception("could not notify user %s about %s", user_id, kind.value)


def _ledger_status(status: str) -> PaymentStatus:
    try:
        return PaymentStatus(status)
    except ValueError:
        return PaymentStatus.PENDING


def _pending_decision(plan_id: str) -> Callable[[Subscription, int], Subscription | None]:
    def decide(current: Subscription, _version: int) -> Subscription | None:
        if current.status not in (S.NONE, S.EXPIRED, S.REFUNDED):
            return None  # a running subscription stays as it is while a payment is open
        return current.model_copy(update={"status": S.PENDING, "plan_id": plan_id})

    return decide
