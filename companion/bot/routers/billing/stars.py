"""Telegram Stars updates: the pre-checkout question, a payment, a refund.

Payments pass every gate (flood throttle, consent: a renewal can come after /forget) and are
never swallowed here: a database error propagates so that the update is handled again (and the
Stars reconciliation job would find it anyway).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from aiogram.types import Message, PreCheckoutQuery, SuccessfulPayment

from companion.billing.service import Outcome
from companion.billing.stars import STARS_CURRENCY, StarsBilling, StarsPayment
from companion.bot.localization import I18n

log = logging.getLogger(__name__)


async def pre_checkout(query: PreCheckoutQuery, i18n: I18n, stars_billing: StarsBilling) -> None:
    await stars_billing.answer_pre_checkout(
        query.id,
        query.from_user.id,
        query.currency,
        query.total_amount,
        query.invoice_payload,
        i18n("pro-stars-refused"),
    )


async def successful_payment(message: Message, i18n: I18n, stars_billing: StarsBilling) -> None:
    paid = message.successful_payment
    if paid is None or message.from_user is None:
        return
    if paid.currency != STARS_CURRENCY:
        log.error("successful_payment in %s that this bot does not sell", paid.currency)
        return
    payment = stars_payment(message.from_user.id, paid)
    outcome = await stars_billing.record_payment(payment)
    if outcome is Outcome.REJECTED:
        erased = await stars_billing.payer_erased(payment.user_id)
        await message.answer(i18n("pro-stars-refunded-erased" if erased else "pro-stars-problem"))


async def refunded_payment(message: Message, stars_billing: StarsBilling) -> None:
    """Telegram's notice that a Stars payment was refunded: counted once (PRO revoked when the
    whole price is back), whoever made the refund."""
    refund = message.refunded_payment
    if refund is None or refund.currency != STARS_CURRENCY:
        return
    await stars_billing.record_refund(refund.telegram_payment_charge_id, refund.total_amount)


def stars_payment(user_id: int, paid: SuccessfulPayment) -> StarsPayment:
    return StarsPayment(
        user_id=user_id,
        currency=paid.currency,
        total_amount=paid.total_amount,
        invoice_payload=paid.invoice_payload,
        telegram_payment_charge_id=paid.telegram_payment_charge_id,
        subscription_expiration_date=_expiration(paid.subscription_expiration_date),
        is_recurring=bool(paid.is_recurring),
        is_first_recurring=bool(paid.is_first_recurring),
    )


def _expiration(value: Any) -> datetime | None:
    """Telegram's Unix time, or None when it is not a date at all (the plan period is then
    credited; `StarsBilling.plausible_expiration` also refuses dates no period ends on)."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    try:
        return datetime.fromtimestamp(int(value), UTC)
    except (OverflowError, OSError, ValueError, TypeError):
        log.warning("successful_payment with an impossible subscription_expiration_date")
        return None
