"""Telegram Stars data billing reads from updates and the Bot API."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

STARS_CURRENCY = "XTR"
SUBSCRIPTION_PERIOD_S = 30 * 24 * 3600  # Telegram's only allowed subscription period


@dataclass(frozen=True, slots=True)
class StarsPayment:
    """The fields of Telegram's SuccessfulPayment that matter here."""

    user_id: int
    currency: str
    total_amount: int
    invoice_payload: str
    telegram_payment_charge_id: str
    subscription_expiration_date: datetime | None = None
    is_recurring: bool = False
    is_first_recurring: bool = False
