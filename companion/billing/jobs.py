"""Periodic billing work: renew, expire, and reconcile payments whose news was lost.

Every job is safe to run at any time, twice, or concurrently on two bot instances: each change
goes through the ledger's conditional updates and the subscription store's keyed transitions.
`BillingScheduler` runs them in the background of the bot process (the composition root starts
and stops it); the same `BillingJobs` methods can run from a CLI or cron instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from companion.billing import rules
from companion.billing.context import BillingContext, Outcome
from companion.billing.crediting import Crediting
from companion.billing.ports import BillingNotice, NoticeKind
from companion.billing.records import PaymentKind, PaymentRecord, PaymentStatus, Provider
from companion.billing.renewals import Renewals
from companion.billing.yookassa_models import YooKassaError
from companion.domain.models import Subscription, SubscriptionStatus

log = logging.getLogger(__name__)

S = SubscriptionStatus
# A `creating` record younger than this may still be in flight in another task.
_IN_FLIGHT = timedelta(minutes=2)


@dataclass
class JobReport:
    checked: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)
    errors: int = 0

    def count(self, outcome: Outcome | str) -> None:
        name = outcome.value if isinstance(outcome, Outcome) else outcome
        self.outcomes[name] = self.outcomes.get(name, 0) + 1


class BillingJobs:
    def __init__(self, context: BillingContext, renewals: Renewals, crediting: Crediting) -> None:
        self._c = context
        self._renewals = renewals
        self._crediting = crediting
        # Telegram Stars reconciliation (`companion.billing.stars_reconcile`), set once the bot
        # exists (`BillingComponents.attach_telegram`).
        self.stars_reconcile: Callable[[], Awaitable[JobReport]] | None = None

    async def renew_due(self) -> JobReport:
        """Charge saved YooKassa methods `renew_before_hours` before the period ends, and once a
        day during the grace period of a past-due subscription."""
        c = self._c
        report = JobReport()
        if c.gateway.yookassa is None or not c.settings.autopayments:
            return report
        now = c.now()
        ahead = now + timedelta(hours=c.settings.renew_before_hours)
        for sub in await c.subscriptions.due([S.ACTIVE, S.PAST_DUE], ahead):
            if (
                not sub.auto_renew
                or sub.provider != Provider.YOOKASSA.value
                or sub.payment_method_id is None
                or sub.current_period_end is None
            ):
                continue
            if sub.status is S.ACTIVE and sub.current_period_end > ahead:
                continue
            if sub.status is S.PAST_DUE and (sub.grace_until is None or sub.grace_until <= now):
                continue
            attempt = 0
            if sub.status is S.PAST_DUE:
                attempt = max(0, (now - sub.current_period_end).days) + 1
            report.checked += 1
            await self._guarded(report, "renew", self._renewals.charge_renewal(sub, attempt))
        return report

    async def expire_due(self) -> JobReport:
        """End what has run out: cancelled or non-renewing periods, and finished grace periods.
        A renewing subscription whose period ended without a renewal goes past due first."""
        c = self._c
        report = JobReport()
        now = c.now()
        for sub in await c.subscriptions.due([S.ACTIVE, S.CANCELLED, S.PAST_DUE], now):
            report.checked += 1
            await self._guarded(report, "expire", self._expire(sub, now))
        return report

    async def _expire(self, sub: Subscription, now: datetime) -> Outcome | str:
        c = self._c
        grace = timedelta(days=c.settings.grace_period_days)
        if sub.status is S.PAST_DUE:
            if sub.grace_until is None or sub.grace_until > now:
                return "not_due"
            key = f"expire:{sub.user_id}:{int(sub.grace_until.timestamp())}"
        else:
            if sub.current_period_end is None or sub.current_period_end > now:
                return "not_due"
            key = f"expire:{sub.user_id}:{int(sub.current_period_end.timestamp())}"
        lapse = sub.status is S.ACTIVE and sub.auto_renew

        if lapse:
            key = key.replace("expire:", "lapse:", 1)
        change = await c.subscriptions.apply(
            sub.user_id, key, "period ended", rules.expire(now, grace)
        )
        if not change.applied:
            return Outcome.ALREADY_DONE
        kind = (
            NoticeKind.RENEWAL_FAILED if change.after.status is S.PAST_DUE else NoticeKind.EXPIRED
        )
        if c.notifier is not None:
            until = change.after.grace_until if kind is NoticeKind.RENEWAL_FAILED else None
            try:
                await c.notifier.notify(
                    sub.user_id, BillingNotice(kind, change.after.plan_id, until)
                )
            except Exception:
                log.exception("could not notify user %s", sub.user_id)
        return change.after.status.value

    async def reconcile(self) -> JobReport:
        """Re-read open YooKassa payments and credit paid-but-not-granted ones (any provider).

        This heals a lost notification and a crash between "paid" and "granted". A payment of
        an erased payer is refunded instead (see `Crediting.credit`).
        """
        c = self._c
        report = JobReport()
        now = c.now()
        since = now - timedelta(hours=c.settings.reconcile_max_age_hours)
        for provider in Provider:
            for record in await c.ledger.needing_attention(provider, since):
                report.checked += 1
                await self._guarded(
                    report, "reconcile", self._reconcile_one(record, now), record.id
                )
        return report

    async def _reconcile_one(self, record: PaymentRecord, now: datetime) -> Outcome | str:
        c = self._c
        if record.status is PaymentStatus.SUCCEEDED:
            return await self._crediting.credit(record)
        if record.provider is not Provider.YOOKASSA or c.gateway.yookassa is None:
            return "skipped"
        if record.status is PaymentStatus.CREATING:
            if record.created_at > now - _IN_FLIGHT:
                return "in_flight"
            if record.kind is PaymentKind.RENEWAL:
                # Money may have moved: ask again with the same key to learn the answer.
                return await self._renewals.send_created(record)
            # The user never saw a link for it, so nobody can pay it.
            await c.ledger.update(
                record.id,
                expected=[PaymentStatus.CREATING],
                status=PaymentStatus.CREATE_FAILED,
                failure_reason="no answer from YooKassa",
            )
            return "abandoned"
        if record.payment_id is not None:
            return await self._crediting.sync_yookassa_payment(record.payment_id)
        return "skipped"

    async def run_once(self) -> dict[str, JobReport]:
        reports = {"reconcile": await self.reconcile()}
        if self.stars_reconcile is not None:
            reports["stars_reconcile"] = await self.stars_reconcile()
        reports["renew"] = await self.renew_due()
        reports["expire"] = await self.expire_due()
        return reports

    async def _guarded(
        self, report: JobReport, job: str, step: Awaitable[Outcome | str], ref: str | None = None
    ) -> None:
        """Run one record's step; a failure skips that record only (it is retried next run),
        is counted in `companion_billing_job_failures_total` and logged without personal data:
        `ref` is an order id (random), never a user id, and exception messages are left out
        (a validation or database error can quote the document)."""
        try:
            report.count(await step)
        except Exception as exc:  # one bad record must not stop the rest
            report.errors += 1
            self._c.metrics.job_failed(job)
            detail = str(exc) if isinstance(exc, YooKassaError) else type(exc).__name__
            log.error("billing %s: %s skipped this run (%s)", job, ref or "a record", detail)


class BillingScheduler:
    """Runs `BillingJobs` periodically in the background; `start` and `stop` from the app."""

    def __init__(
        self,
        jobs: BillingJobs,
        *,
        interval_s: float = 300.0,
        reconcile_interval_s: float = 120.0,
        stars_reconcile_interval_s: float = 600.0,
    ) -> None:
        self._jobs = jobs
        self._interval_s = interval_s
        self._reconcile_interval_s = reconcile_interval_s
        self._stars_reconcile_interval_s = stars_reconcile_interval_s
        self._tasks: list[asyncio.Task[None]] = []

    @property
    def running(self) -> bool:
        return any(not task.done() for task in self._tasks)

    def start(self) -> None:
        if self.running:
            return
        self._tasks = [
            asyncio.create_task(
                self._loop("reconcile", self._jobs.reconcile, self._reconcile_interval_s),
                name="billing-reconcile",
            ),
            asyncio.create_task(
                self._loop("renew+expire", self._renew_and_expire, self._interval_s),
                name="billing-renew-expire",
            ),
        ]
        stars = self._jobs.stars_reconcile
        if stars is not None and self._stars_reconcile_interval_s > 0:
            self._tasks.append(
                asyncio.create_task(
                    self._loop("stars reconcile", stars, self._stars_reconcile_interval_s),
                    name="billing-stars-reconcile",
                )
            )

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []

    async def _renew_and_expire(self) -> JobReport:
        # Expiry runs even when renewals cannot (YooKassa or a read failing): PRO must end on
        # time whatever happens to charging.
        try:
            renew = await self._jobs.renew_due()
        except Exception:
            log.exception("billing renew failed")
            renew = JobReport(errors=1)
        expire = await self._jobs.expire_due()
        return JobReport(
            renew.checked + expire.checked,
            {**renew.outcomes, **expire.outcomes},
            renew.errors + expire.errors,
        )

    async def _loop(
        self, name: str, job: Callable[[], Awaitable[JobReport]], interval_s: float
    ) -> None:
        while True:
            try:
                report = await job()
                if report.checked or report.errors:
                    log.info("billing %s: %s", name, report)
            except asyncio.CancelledError:
                raise
            except Exception:  # e.g. the database is briefly down: try again next time
                log.exception("billing %s failed", name)
            await asyncio.sleep(interval_s)
