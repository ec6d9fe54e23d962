"""Reconciling Telegram Stars: credit from Telegram's own list what our ledger never heard of.

A Stars payment reaches us only as a `successful_payment` update. If that update is lost (the
database was down while it was handled, a bug, an update dropped before a fix), the user paid
and has nothing. Telegram keeps the bot's history, though: `getStarTransactions` lists every
charge (its id is the payment's `telegram_payment_charge_id`, its source the paying user with the
invoice payload and, for a subscription, the period) and every refund (the same id, the user as
the receiver). This job pages through that history and, for each charge the ledger lacks, runs
the very path a `successful_payment` takes (`StarsBilling.record_payment`: same checks, same
idempotent ledger key, so a delivery that comes later changes nothing). Refunds the ledger has
not counted are recorded too (PRO revoked for a full refund).

The history is in chronological order, so the first charge of a subscription is met before its
renewals: a charge whose invoice payload was seen earlier in the list is a renewal. Charges older
than `billing.reconcile_max_age_hours` that are still missing are only reported (logged and
counted): they predate what a lost update can explain. One transaction that cannot be handled
is skipped (logged, counted in `companion_billing_job_failures_total{job="stars_reconcile"}`)
and tried again on the next run; it never stops the others.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

from companion.billing.context import Outcome
from companion.billing.jobs import JobReport
from companion.billing.metrics import BillingMetrics
from companion.billing.ports import Ledger, StarsApi, StarTransaction
from companion.billing.records import PaymentRecord, Provider
from companion.billing.stars import STARS_CURRENCY, StarsBilling, StarsPayment

log = logging.getLogger(__name__)

PAGE_SIZE = 100  # the Bot API's maximum
JOB = "stars_reconcile"


class StarsReconciler:
    def __init__(
        self,
        stars: StarsBilling,
        api: StarsApi,
        ledger: Ledger,
        *,
        max_age: timedelta,
        clock: Callable[[], datetime],
        metrics: BillingMetrics | None = None,
        max_pages: int = 10_000,
    ) -> None:
        self._stars = stars
        self._api = api
        self._ledger = ledger
        self._max_age = max_age
        self._clock = clock
        self._metrics = metrics or BillingMetrics()
        self._max_pages = max_pages

    async def run(self) -> JobReport:
        """One pass over the whole history. A Bot API error reading a page ends the pass (the
        next run starts over); the pass is idempotent, so running it twice is harmless."""
        report = JobReport()
        history = await self._history()
        refunds = {entry.id: entry for entry in history if entry.refund}
        first_charges: dict[str, str] = {}  # invoice payload -> first charge id
        cutoff = self._clock() - self._max_age
        for start in range(0, len(history), PAGE_SIZE):
            entries = history[start : start + PAGE_SIZE]
            known = await self._ledger.by_payment_ids(Provider.STARS, [e.id for e in entries])
            for entry in entries:
                if entry.refund:
                    continue
                first = entry.subscription_period is not None and (
                    first_charges.setdefault(entry.invoice_payload, entry.id) == entry.id
                )
                record = known.get(entry.id)
                if record is not None and not _refund_owed(record, entry.id):
                    continue
                report.checked += 1
                if record is None and _aware(entry.date) < cutoff:
                    report.count("too_old")
                    self._metrics.job_failed(JOB)
                    log.warning(
                        "Stars payment %s is not in the ledger and older than %s: left to an admin",
                        entry.id,
                        self._max_age,
                    )
                    continue
                refund = refunds.get(entry.id)
                step = self._credit(entry, first=first, refunded=refund.amount if refund else 0)
                await self._guarded(report, entry, step)
        # Refunds last: each finds its payment recorded by now (or it is too old to matter).
        refunded = list(refunds.values())
        for start in range(0, len(refunded), PAGE_SIZE):
            entries = refunded[start : start + PAGE_SIZE]
            known = await self._ledger.by_payment_ids(Provider.STARS, [e.id for e in entries])
            for entry in entries:
                record = known.get(entry.id)
                if record is None or _counted(record, entry.id):
                    continue
                report.checked += 1
                await self._guarded(
                    report, entry, self._stars.record_refund(entry.id, entry.amount)
                )
        return report

    async def _history(self) -> list[StarTransaction]:
        """Every invoice payment and refund in the bot's history, oldest first."""
        history: list[StarTransaction] = []
        offset = 0
        for _ in range(self._max_pages):
            page = await self._api.get_star_transactions(offset, PAGE_SIZE)
            history.extend(entry for entry in page if entry is not None)
            if len(page) < PAGE_SIZE:
                return history
            offset += len(page)
        log.warning("Stars history longer than %d pages: the rest waits", self._max_pages)
        return history

    async def _credit(self, entry: StarTransaction, *, first: bool, refunded: int) -> Outcome:
        log.warning("Stars payment %s is handled from Telegram's history", entry.id)
        recurring = entry.subscription_period is not None
        expires = None
        if entry.subscription_period is not None:
            expires = _aware(entry.date) + timedelta(seconds=entry.subscription_period)
        return await self._stars.record_payment(
            StarsPayment(
                user_id=entry.user_id,
                currency=STARS_CURRENCY,
                total_amount=entry.amount,
                invoice_payload=entry.invoice_payload,
                telegram_payment_charge_id=entry.id,
                subscription_expiration_date=expires,
                is_recurring=recurring,
                is_first_recurring=recurring and first,
            ),
            refunded=refunded,
        )

    async def _guarded(
        self, report: JobReport, entry: StarTransaction, step: Awaitable[Outcome]
    ) -> None:
        try:
            outcome = await step
        except Exception as exc:  # one bad transaction must not stop the rest
            report.errors += 1
            self._metrics.job_failed(JOB)
            # The transaction id and the error's type only: the payload names the user, who
            # may have been erased since.
            log.error(
                "Stars transaction %s could not be reconciled (%s); retried next run",
                entry.id,
                type(exc).__name__,
            )
            log.debug("Stars transaction %s: details", entry.id, exc_info=exc)
            return
        report.count(outcome)


def _refund_owed(record: PaymentRecord, charge_id: str) -> bool:
    """A payment we refused (or whose payer was erased) whose refund did not go through: the
    same path is run again, and refunds it. `erased_not_refunded`: an erased payer's payment
    the generic job could not refund (it lacks their Telegram id); the history has it."""
    return (
        record.closed_reason in ("rejected", "erased", "erased_not_refunded")
        and record.granted_at is None
        and not _counted(record, charge_id)
    )


def _counted(record: PaymentRecord, charge_id: str) -> bool:
    return f"stars:{charge_id}" in record.refund_ids or record.refund_id == f"stars:{charge_id}"


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)
