"""The ledger record of a YooKassa payment, with the exact request body it will send.

The body is stored with the record (ledger first), so a crash after YooKassa answered is
finished by repeating the very same request under the same idempotence key.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from companion.billing.records import PaymentKind, PaymentRecord, Provider
from companion.billing.yookassa_models import Amount
from companion.config import BillingSettings, PlanSettings
from companion.domain.models import User


def yookassa_record(
    settings: BillingSettings,
    order_id: str,
    idempotency_key: str,
    user: User,
    plan: PlanSettings,
    kind: PaymentKind,
    now: datetime,
    *,
    payment_method_id: str | None = None,
    renews_period_end: datetime | None = None,
) -> PaymentRecord:
    # YooKassa limits the description to 128 characters.
    description = plan.title_for(user.language)[:128]
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
        request_body=payment_body(
            settings, order_id, user, plan, kind, description, payment_method_id=payment_method_id
        ),
        created_at=now,
        payment_method_id=payment_method_id,
        renews_period_end=renews_period_end,
    )


def payment_body(
    settings: BillingSettings,
    order_id: str,
    user: User,
    plan: PlanSettings,
    kind: PaymentKind,
    description: str,
    *,
    payment_method_id: str | None,
) -> dict[str, Any]:
    """`POST /payments`: a redirect checkout, or a charge of a saved method (renewals)."""
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
        body["confirmation"] = {"type": "redirect", "return_url": settings.yookassa_return_url}
        if settings.autopayments:
            body["save_payment_method"] = True
    else:
        body["payment_method_id"] = payment_method_id
    if settings.receipt_required and user.receipt_contact:
        body["receipt"] = _receipt(settings, user.receipt_contact, description, amount)
    return body


def _receipt(
    settings: BillingSettings, contact: str, description: str, amount: dict[str, str]
) -> dict[str, Any]:
    """A 54-FZ receipt of one item."""
    customer = {"email": contact} if "@" in contact else {"phone": contact}
    receipt: dict[str, Any] = {
        "customer": customer,
        "items": [
            {
                "description": description,
                "quantity": "1.00",
                "amount": amount,
                "vat_code": settings.receipt_vat_code,
                "payment_subject": settings.receipt_payment_subject,
                "payment_mode": settings.receipt_payment_mode,
            }
        ],
    }
    if settings.receipt_tax_system_code is not None:
        receipt["tax_system_code"] = settings.receipt_tax_system_code
    return receipt
