"""The one place billing is assembled from settings (the composition root calls it).

billing = build_billing(settings, db, users=users, events=events, entitlements=entitlements)
...                                   # once the aiogram Bot exists:
billing.attach_telegram(stars_api, notifier, payload_secret=settings.telegram.token,
                        alerts=owner_alerts)
setup_billing_routes(webhook_app, billing.crediting, settings.billing)
billing.scheduler.start()
billing.checkout / .management / .admin / .stars     # the use cases front-ends call
...
await billing.aclose()                # stops the scheduler, closes the YooKassa client
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from pydantic import SecretStr
from pymongo.asynchronous.database import AsyncDatabase

from companion.billing.admin import AdminService
from companion.billing.checkout import CheckoutService
from companion.billing.crediting import Crediting
from companion.billing.entitlements import EntitlementService
from companion.billing.jobs import BillingJobs, BillingScheduler
from companion.billing.ledger import Document, PaymentLedger
from companion.billing.management import SubscriptionManagement
from companion.billing.metrics import BillingMetrics
from companion.billing.plans import PlanCatalog
from companion.billing.ports import Notifier, OwnerAlerts, StarsApi
from companion.billing.refunds import Refunds
from companion.billing.service import BillingService
from companion.billing.stars import StarsBilling, derive_payload_key
from companion.billing.stars_reconcile import StarsReconciler
from companion.billing.subscriptions import SubscriptionStore
from companion.billing.yookassa import YooKassaClient
from companion.config import Settings
from companion.domain.ports import EventSink, UserStore
from companion.storage.crypto import FieldCipher, load_cipher
from companion.storage.documents import storage_now, to_storage_precision


@dataclass
class BillingComponents:
    service: BillingService
    jobs: BillingJobs
    scheduler: BillingScheduler
    yookassa: YooKassaClient | None
    stars: StarsBilling | None = None
    # The keyed hash erasure writes as `user_ref`: a Stars payment of an erased payer is
    # recorded under it.
    pseudonym: Callable[[int], str] | None = None
    stars_reconciler: StarsReconciler | None = None

    # -- the use cases front-ends call (all share one context; see companion.billing) ----------

    @property
    def checkout(self) -> CheckoutService:
        return self.service.checkout

    @property
    def management(self) -> SubscriptionManagement:
        return self.service.management

    @property
    def admin(self) -> AdminService:
        return self.service.admin

    @property
    def crediting(self) -> Crediting:
        return self.service.crediting

    @property
    def refunds(self) -> Refunds:
        return self.service.refunds

    def attach_telegram(
        self,
        stars_api: StarsApi,
        notifier: Notifier,
        *,
        payload_secret: SecretStr | None,
        alerts: OwnerAlerts | None = None,
    ) -> None:
        """Give billing the Bot API and the notifier.

        Stars are wired even when `billing.stars_enabled` is off: that setting stops selling,
        but people who subscribed before keep being renewed by Telegram, and their renewals
        must be credited and their subscriptions stay cancellable (and /forget must stop them).
        """
        self.service.notifier = notifier
        if alerts is not None:
            self.service.alerts = alerts
        settings = self.service.settings
        self.service.attach_stars_api(stars_api)
        secret = settings.stars_payload_secret or payload_secret
        if secret is None:
            if settings.stars_enabled:
                raise ValueError("Stars need billing.stars_payload_secret or telegram.token")
            return
        self.stars = StarsBilling(
            self.service,
            stars_api,
            derive_payload_key(secret.get_secret_value()),
            selling=settings.stars_enabled,
            pseudonym=self.pseudonym,
        )
        # Telegram's Stars history is the truth for Stars: credit what the ledger lacks.
        self.stars_reconciler = StarsReconciler(
            self.stars,
            stars_api,
            self.service.ledger,
            max_age=timedelta(hours=settings.reconcile_max_age_hours),
            clock=self.service.now,
            metrics=self.service.metrics,
        )
        self.jobs.stars_reconcile = self.stars_reconciler.run

    async def aclose(self) -> None:
        await self.scheduler.stop()
        if self.yookassa is not None:
            await self.yookassa.close()


def build_billing(
    settings: Settings,
    db: AsyncDatabase[Document],
    *,
    users: UserStore,
    events: EventSink,
    entitlements: EntitlementService,
    plans: PlanCatalog | None = None,
    cipher: FieldCipher | None = None,
    metrics: BillingMetrics | None = None,
    clock: Callable[[], datetime] | None = None,
) -> BillingComponents:
    """`clock`: what billing takes as "now" (tests move it); kept at BSON's millisecond
    precision, as stored dates come back."""
    billing = settings.billing
    # Saved-card tokens are sealed with the same key as messages (the container's cipher).
    cipher = cipher or load_cipher(settings.privacy, settings.environment)
    # The bot passes its Prometheus registry; the CLI counts on a private one.
    metrics = metrics or BillingMetrics()
    yookassa = YooKassaClient(billing) if billing.yookassa_enabled else None
    service = BillingService(
        billing,
        plans or PlanCatalog(billing.plans),
        PaymentLedger(db, cipher=cipher, metrics=metrics),
        SubscriptionStore(db, cache=entitlements, cipher=cipher, metrics=metrics),
        users,
        events,
        yookassa=yookassa,
        metrics=metrics,
        clock=(lambda: to_storage_precision(clock())) if clock is not None else storage_now,
    )
    jobs = BillingJobs(service.context, service.renewals, service.crediting)
    scheduler = BillingScheduler(
        jobs,
        interval_s=billing.jobs_interval_s,
        reconcile_interval_s=billing.reconcile_interval_s,
        stars_reconcile_interval_s=billing.stars_reconcile_interval_s,
    )
    return BillingComponents(service, jobs, scheduler, yookassa, pseudonym=cipher.pseudonym)
