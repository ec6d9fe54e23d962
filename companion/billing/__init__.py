"""PRO billing: plans, entitlements, the subscription state machine, YooKassa and Telegram Stars.

See docs/billing.md. Built in one place, `companion.billing.factory.build_billing`:

    billing = build_billing(settings, db, users=..., events=..., entitlements=..., plans=...,
                            cipher=..., metrics=...)             # -> BillingComponents
    billing.attach_telegram(stars_api, notifier, payload_secret=token, alerts=owner_alerts)
    setup_billing_routes(aiohttp_app, billing.crediting, settings.billing)  # billing.webhook
    billing.scheduler.start() ... await billing.aclose()

The use cases a front-end calls (all share one `context.BillingContext`; errors are
`companion.billing.errors.*`, rendered from the locale files):

- `billing.checkout: CheckoutService` (checkout.py): `paywall_shown(user_id, persona_id=None)`,
  `accept_offer(user_id)`, `confirm_adult(user_id)`, `set_receipt_contact(user_id, text) -> str`
  (InvalidContactError), `start_yookassa_checkout(user, plan_id) -> Checkout` (UnknownPlanError,
  OfferNotAcceptedError, ContactRequiredError, PaymentUnavailableError), `yookassa_enabled`.
- `billing.management: SubscriptionManagement` (management.py): `view(user_id) ->
  SubscriptionView`, `cancel(user_id)`, `resume(user_id)` (NotCancellableError),
  `stop_renewals(user_id) -> bool` (the before-erasure hook), `close_open_checkouts(user_id)`.
- `billing.admin: AdminService` (admin.py): `refund(reference) -> Outcome` (NothingToRefundError,
  PaymentUnavailableError), `find_payment(reference)`, `grant(user_id, plan_id, days, by=admin)`.
- `billing.stars: StarsBilling | None` (stars.py; set by `attach_telegram`): `selling`,
  `create_invoice_link(user, plan_id, description)`, `renewing(user_id)`, `answer_pre_checkout(
  query_id, user_id, currency, total_amount, payload, error_message)`, `record_payment(
  StarsPayment)`, `record_refund(charge_id, amount)`, `payer_erased(user_id)`.
- Inside billing: `billing.crediting: Crediting` (webhook and jobs: `sync_yookassa_payment`,
  `sync_yookassa_refund`, `credit`), `billing.refunds: Refunds`, `renewals.Renewals`,
  `erased.ErasedPayments`, `jobs.BillingJobs`, `stars_reconcile.StarsReconciler`.
- `billing.service: BillingService` assembles the use cases in the one right order and still
  offers their methods under one name for the CLI and the tests; the webhook takes `Crediting`,
  the jobs take the context, `Renewals` and `Crediting`.

Ports (ports.py): `PaymentGateway` (`yookassa: YooKassaGateway`, `stars: StarsApi`), `Ledger`,
`Subscriptions`, `Notifier`, `OwnerAlerts`. Pure rules: rules.py. Adapters: ledger.py and
subscriptions.py (MongoDB), yookassa.py (the official `yookassa` SDK). In-memory fakes of the
ports for unit tests: tests/unit/billing/fakes.py.
"""
