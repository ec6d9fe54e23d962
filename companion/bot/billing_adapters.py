"""Billing's Telegram ports over an aiogram Bot, for the composition root.

- `AiogramStarsApi`: `companion.billing.ports.StarsApi` (invoices, pre-checkout answers,
  subscription edits, refunds, the Stars history);
- `BotNotifier`: `companion.billing.ports.Notifier` (renewed, renewal failed, expired...).
"""

from __future__ import annotations

import logging

from aiogram import Bot
from aiogram.exceptions import TelegramAPIError, TelegramBadRequest, TelegramForbiddenError
from aiogram.types import LabeledPrice, TransactionPartnerUser
from aiogram.types import StarTransaction as TgStarTransaction

from companion.billing.errors import StarsRefusedError
from companion.billing.plans import PlanCatalog
from companion.billing.ports import BillingNotice, StarTransaction
from companion.billing.stars import STARS_CURRENCY
from companion.bot.deps import Users
from companion.bot.localization import I18n
from companion.bot.texts import date_text
from companion.i18n import Translator

log = logging.getLogger(__name__)


class AiogramStarsApi:
    """`companion.billing.ports.StarsApi` over an aiogram Bot."""

    def __init__(self, bot: Bot) -> None:
        self._bot = bot

    async def create_invoice_link(
        self,
        *,
        title: str,
        description: str,
        payload: str,
        amount: int,
        subscription_period: int | None,
    ) -> str:
        return await self._bot.create_invoice_link(
            title=title,
            description=description,
            payload=payload,
            currency=STARS_CURRENCY,
            prices=[LabeledPrice(label=title, amount=amount)],
            subscription_period=subscription_period,
        )

    async def answer_pre_checkout_query(
        self, query_id: str, ok: bool, error_message: str | None = None
    ) -> None:
        await self._bot.answer_pre_checkout_query(
            pre_checkout_query_id=query_id, ok=ok, error_message=error_message
        )

    async def edit_user_star_subscription(
        self, user_id: int, telegram_payment_charge_id: str, is_canceled: bool
    ) -> None:
        try:
            await self._bot.edit_user_star_subscription(
                user_id=user_id,
                telegram_payment_charge_id=telegram_payment_charge_id,
                is_canceled=is_canceled,
            )
        except TelegramBadRequest as exc:
            # Billing tells "invalid, do not retry" from "Telegram down, retry" by this type.
            raise StarsRefusedError(exc.message) from exc

    async def refund_star_payment(self, user_id: int, telegram_payment_charge_id: str) -> None:
        try:
            await self._bot.refund_star_payment(
                user_id=user_id, telegram_payment_charge_id=telegram_payment_charge_id
            )
        except TelegramBadRequest as exc:
            # Refunding is idempotent for us: a retry after a lost answer finds it done.
            if "CHARGE_ALREADY_REFUNDED" not in exc.message:
                raise
            log.info("Stars payment %s was already refunded", telegram_payment_charge_id)

    async def get_star_transactions(self, offset: int, limit: int) -> list[StarTransaction | None]:
        page = await self._bot.get_star_transactions(offset=offset, limit=limit)
        return [_invoice_transaction(entry) for entry in page.transactions]


def _invoice_transaction(entry: TgStarTransaction) -> StarTransaction | None:
    """The billing view of one history entry: a user paying an invoice, or its refund."""
    partner = entry.source if entry.source is not None else entry.receiver
    if not isinstance(partner, TransactionPartnerUser) or partner.invoice_payload is None:
        return None  # withdrawals, ads, gifts, paid media: not ours to reconcile
    return StarTransaction(
        id=entry.id,
        user_id=partner.user.id,
        amount=entry.amount,
        date=entry.date,
        invoice_payload=partner.invoice_payload,
        subscription_period=partner.subscription_period,
        refund=entry.source is None,
    )


class BotNotifier:
    """`companion.billing.ports.Notifier`: billing news as a chat message."""

    def __init__(
        self,
        bot: Bot,
        translator: Translator,
        users: Users,
        plans: PlanCatalog,
        default_language: str = "ru",
    ) -> None:
        self._bot = bot
        self._translator = translator
        self._users = users
        self._plans = plans
        self._default_language = default_language

    async def notify(self, user_id: int, notice: BillingNotice) -> None:
        user = await self._users.get(user_id)
        i18n = I18n(self._translator, user.language if user else self._default_language)
        plan = self._plans.find(notice.plan_id)
        text = i18n(
            f"billing-notice-{notice.kind.value}",
            plan=plan.title_for(i18n.language) if plan else notice.plan_id,
            until=date_text(notice.until),
        )
        try:
            await self._bot.send_message(user_id, text)
        except TelegramForbiddenError:
            log.info(
                "user %s blocked the bot; billing notice %s not sent", user_id, notice.kind.value
            )
        except TelegramAPIError as exc:
            log.warning("billing notice to %s failed: %s", user_id, exc)
