"""What billing needs from the outside: telling a user about their plan, and Telegram Stars.

Implemented by the Telegram front-end (`companion.bot.routers.billing`), so billing never
imports aiogram.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Protocol


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
