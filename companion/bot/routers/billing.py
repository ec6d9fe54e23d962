"""PRO in Telegram: /pro, the offer, paying by YooKassa link or Stars, /subscription, admin.

`build_router()` makes the router (one per dispatcher). Handlers only parse, call
`BillingService` / `StarsBilling`, and render texts from `locales/*/billing.ftl`. They reach the
services by name through the dispatcher's workflow data: ``billing`` (`BillingService`) and
``stars_billing`` (`StarsBilling`; when Stars are switched off it is still there for existing
subscribers' renewals, with `selling` false, and no Stars purchase is offered), put into
`BotDeps.extra` by the composition root.

Also here, for the composition root and the chat screens:
- `AiogramStarsApi`: the `StarsApi` port over an aiogram `Bot`;
- `BotNotifier`: the `Notifier` port (renewed, renewal failed, expired... messages);
- `show_paywall`: the paywall with plan buttons, for the chat router on NEEDS_PRO.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from decimal import Decimal
from html import escape
from typing import Any

from aiogram import Bot, F, Router
from aiogram.exceptions import TelegramAPIError, TelegramBadRequest, TelegramForbiddenError
from aiogram.filters import Command, CommandObject, StateFilter
from aiogram.filters.callback_data import CallbackData
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import (
    CallbackQuery,
    InlineKeyboardMarkup,
    LabeledPrice,
    Message,
    PreCheckoutQuery,
    TransactionPartnerUser,
)
from aiogram.types import StarTransaction as TgStarTransaction
from aiogram.utils.keyboard import InlineKeyboardBuilder

from companion.billing.errors import (
    AlreadySubscribedError,
    BillingError,
    ContactRequiredError,
    InvalidContactError,
    NotCancellableError,
    NothingToRefundError,
    OfferNotAcceptedError,
    PaymentUnavailableError,
    StarsRefusedError,
)
from companion.billing.plans import PlanCatalog, UnknownPlanError
from companion.billing.ports import BillingNotice, StarTransaction
from companion.billing.service import BillingService, Outcome
from companion.billing.stars import STARS_CURRENCY, StarsBilling, StarsPayment
from companion.bot.filters import Magic
from companion.bot.localization import I18n
from companion.config import PlanSettings, TelegramSettings
from companion.domain.models import SubscriptionStatus, User
from companion.i18n import Translator

log = logging.getLogger(__name__)


class BillingCb(CallbackData, prefix="bill"):
    action: str  # plan | offer | card | stars | cancel | resume
    plan: str = ""


class BillingStates(StatesGroup):
    receipt_contact = State()


# -- ports for the composition root ---------------------------------------------------------------


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
        users: Any,
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
            until=_date(notice.until),
        )
        try:
            await self._bot.send_message(user_id, text)
        except TelegramForbiddenError:
            log.info(
                "user %s blocked the bot; billing notice %s not sent", user_id, notice.kind.value
            )
        except TelegramAPIError as exc:
            log.warning("billing notice to %s failed: %s", user_id, exc)


# -- rendering ----------------------------------------------------------------------------------


def _date(value: datetime | None) -> str:
    if value is None:
        return "—"
    return value.astimezone(UTC).strftime("%d.%m.%Y")


def _money(value: Decimal) -> str:
    return f"{value:.2f}".removesuffix(".00")


def plans_keyboard(i18n: I18n, plans: PlanCatalog) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    for plan in plans:
        builder.button(
            text=i18n(
                "pro-plan-button",
                title=plan.title_for(i18n.language),
                rub=_money(plan.price_rub),
                stars=plan.price_stars,
            ),
            callback_data=BillingCb(action="plan", plan=plan.id),
        )
    builder.adjust(1)
    return builder.as_markup()


async def show_paywall(
    bot: Bot, chat_id: int, i18n: I18n, billing: BillingService, persona_name: str | None = None
) -> None:
    """The paywall: what PRO gives and the plans. For the chat router on NEEDS_PRO (the caller
    records the paywall_shown event, as it knows the persona)."""
    text = i18n("paywall-text", name=escape(persona_name)) if persona_name else ""
    intro = i18n("pro-intro")
    await bot.send_message(
        chat_id,
        f"{text}\n\n{intro}".strip(),
        reply_markup=plans_keyboard(i18n, billing.plans),
    )


def _methods_keyboard(
    i18n: I18n, plan: PlanSettings, billing: BillingService, stars: StarsBilling | None
) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    if billing.yookassa_enabled:
        builder.button(
            text=i18n("pro-method-card", rub=_money(plan.price_rub)),
            callback_data=BillingCb(action="card", plan=plan.id),
        )
    if stars is not None:
        builder.button(
            text=i18n("pro-method-stars", stars=plan.price_stars),
            callback_data=BillingCb(action="stars", plan=plan.id),
        )
    builder.adjust(1)
    return builder.as_markup()


def _link_keyboard(text: str, url: str) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    builder.button(text=text, url=url)
    return builder.as_markup()


# -- /pro and buying ------------------------------------------------------------------------------


async def pro(
    message: Message, user: User, i18n: I18n, billing: BillingService | None = None
) -> None:
    if billing is None:
        await message.answer(i18n("pro-unavailable"))
        return
    view = await billing.view(user.id)
    lines = [i18n("pro-intro")]
    if view.has_pro:
        lines.append(i18n("pro-already-active", until=_date(view.until)))
    await message.answer("\n\n".join(lines), reply_markup=plans_keyboard(i18n, billing.plans))
    await billing.paywall_shown(user.id, None)


async def _choose_method(
    query: CallbackQuery,
    i18n: I18n,
    plan: PlanSettings,
    billing: BillingService,
    stars: StarsBilling | None,
    user: User,
    state: FSMContext,
) -> None:
    message = query.message if isinstance(query.message, Message) else None
    if message is None:
        return
    if await _already_subscribed(message, user, i18n, billing):
        return
    if stars is not None and not stars.selling:
        stars = None  # Stars are wired for existing subscribers only
    if not billing.yookassa_enabled and stars is None:
        await message.answer(i18n("pro-unavailable"))
        return
    if billing.yookassa_enabled and stars is None:
        await _pay_by_card(message, user, i18n, plan.id, billing, state)
        return
    if stars is not None and not billing.yookassa_enabled:
        await _pay_by_stars(message, user, i18n, plan.id, stars)
        return
    await message.answer(
        i18n("pro-method-choose", title=plan.title_for(i18n.language)),
        reply_markup=_methods_keyboard(i18n, plan, billing, stars),
    )


async def _already_subscribed(
    message: Message, user: User, i18n: I18n, billing: BillingService
) -> bool:
    """One renewing subscription per user: a second one (above all a Stars subscription next to
    a card one) would go on charging unseen. Switching is explicit: turn renewal off first.
    True when the purchase was refused (and the user told so)."""
    view = await billing.view(user.id)
    if not view.can_cancel:
        return False
    await message.answer(i18n("pro-already-subscribed", until=_date(view.until)))
    return True


async def plan_chosen(
    query: CallbackQuery,
    callback_data: BillingCb,
    user: User,
    i18n: I18n,
    state: FSMContext,
    tg_settings: TelegramSettings,
    billing: BillingService | None = None,
    stars_billing: StarsBilling | None = None,
) -> None:
    await query.answer()
    if billing is None or not isinstance(query.message, Message):
        return
    try:
        plan = billing.plans.get(callback_data.plan)
    except UnknownPlanError:
        await query.message.answer(i18n("pro-unknown-plan"))
        return
    if user.offer_accepted_at is None:
        builder = InlineKeyboardBuilder()
        builder.button(text=i18n("pro-offer-open-button"), url=tg_settings.offer_url)
        builder.button(
            text=i18n("pro-offer-accept-button"),
            callback_data=BillingCb(action="offer", plan=plan.id),
        )
        builder.adjust(1)
        await query.message.answer(
            i18n("pro-offer", url=escape(tg_settings.offer_url)),
            reply_markup=builder.as_markup(),
        )
        return
    await _choose_method(query, i18n, plan, billing, stars_billing, user, state)


async def offer_accepted(
    query: CallbackQuery,
    callback_data: BillingCb,
    user: User,
    i18n: I18n,
    state: FSMContext,
    billing: BillingService | None = None,
    stars_billing: StarsBilling | None = None,
) -> None:
    await query.answer(i18n("pro-offer-accepted"))
    if billing is None:
        return
    if user.offer_accepted_at is None:
        await billing.accept_offer(user.id)
        user.offer_accepted_at = billing.now()
    if isinstance(query.message, Message):
        await query.message.edit_reply_markup(reply_markup=None)
    try:
        plan = billing.plans.get(callback_data.plan)
    except UnknownPlanError:
        return
    await _choose_method(query, i18n, plan, billing, stars_billing, user, state)


async def card_chosen(
    query: CallbackQuery,
    callback_data: BillingCb,
    user: User,
    i18n: I18n,
    state: FSMContext,
    billing: BillingService | None = None,
) -> None:
    await query.answer()
    if billing is not None and isinstance(query.message, Message):
        # A method button from before the subscription started: the same rule as /pro.
        if await _already_subscribed(query.message, user, i18n, billing):
            return
        await _pay_by_card(query.message, user, i18n, callback_data.plan, billing, state)


async def stars_chosen(
    query: CallbackQuery,
    callback_data: BillingCb,
    user: User,
    i18n: I18n,
    billing: BillingService | None = None,
    stars_billing: StarsBilling | None = None,
) -> None:
    await query.answer()
    if not isinstance(query.message, Message):
        return
    if stars_billing is None or not stars_billing.selling:  # a button from before the switch-off
        await query.message.answer(i18n("pro-unavailable"))
        return
    if billing is not None and await _already_subscribed(query.message, user, i18n, billing):
        return
    await _pay_by_stars(query.message, user, i18n, callback_data.plan, stars_billing)


async def _pay_by_card(
    message: Message,
    user: User,
    i18n: I18n,
    plan_id: str,
    billing: BillingService,
    state: FSMContext,
) -> None:
    try:
        checkout = await billing.start_yookassa_checkout(user, plan_id)
    except ContactRequiredError:
        await state.set_state(BillingStates.receipt_contact)
        await state.update_data(billing_plan=plan_id)
        await message.answer(i18n("pro-contact-ask"))
        return
    except UnknownPlanError:
        await message.answer(i18n("pro-unknown-plan"))
        return
    except BillingError as exc:
        await message.answer(i18n(_error_key(exc)))
        return
    await message.answer(
        i18n(
            "pro-pay-link",
            title=checkout.plan.title_for(i18n.language),
            rub=_money(checkout.plan.price_rub),
        ),
        reply_markup=_link_keyboard(i18n("pro-pay-button"), checkout.confirmation_url),
    )


async def _pay_by_stars(
    message: Message, user: User, i18n: I18n, plan_id: str, stars: StarsBilling
) -> None:
    try:
        link = await stars.create_invoice_link(user, plan_id, i18n("pro-stars-description"))
    except UnknownPlanError:
        await message.answer(i18n("pro-unknown-plan"))
        return
    except AlreadySubscribedError as exc:
        until = exc.until if isinstance(exc.until, datetime) else None
        await message.answer(i18n("pro-already-subscribed", until=_date(until)))
        return
    except BillingError as exc:
        await message.answer(i18n(_error_key(exc)))
        return
    await message.answer(
        i18n("pro-stars-link"), reply_markup=_link_keyboard(i18n("pro-stars-button"), link)
    )


def _error_key(exc: BillingError) -> str:
    if isinstance(exc, OfferNotAcceptedError):
        return "pro-offer-needed"
    if isinstance(exc, PaymentUnavailableError):
        return "pro-payment-unavailable"
    return "pro-payment-unavailable"


async def receipt_contact(
    message: Message,
    user: User,
    i18n: I18n,
    state: FSMContext,
    billing: BillingService | None = None,
) -> None:
    if billing is None or message.text is None:
        return
    if message.text.startswith("/"):
        await state.clear()
        await message.answer(i18n("pro-contact-cancelled"))
        return
    try:
        contact = await billing.set_receipt_contact(user.id, message.text)
    except InvalidContactError:
        await message.answer(i18n("pro-contact-invalid"))
        return
    user.receipt_contact = contact
    data = await state.get_data()
    await state.clear()
    await message.answer(i18n("pro-contact-saved"))
    await _pay_by_card(message, user, i18n, str(data.get("billing_plan", "")), billing, state)


# -- Stars payments -----------------------------------------------------------------------------


async def pre_checkout(
    query: PreCheckoutQuery, i18n: I18n, stars_billing: StarsBilling | None = None
) -> None:
    if stars_billing is None:
        await query.answer(ok=False, error_message=i18n("pro-stars-refused"))
        return
    await stars_billing.answer_pre_checkout(
        query.id,
        query.from_user.id,
        query.currency,
        query.total_amount,
        query.invoice_payload,
        i18n("pro-stars-refused"),
    )


async def successful_payment(
    message: Message, i18n: I18n, stars_billing: StarsBilling | None = None
) -> None:
    """Record a Stars payment. Payments pass every gate (flood throttle, consent: a renewal can
    come after /forget) and are never swallowed here: a database error propagates so that the
    update is handled again (and the Stars reconciliation job would find it anyway)."""
    paid = message.successful_payment
    if paid is None or message.from_user is None:
        return
    if stars_billing is None or paid.currency != STARS_CURRENCY:
        log.error("successful_payment in %s that this bot does not sell", paid.currency)
        return
    payment = StarsPayment(
        user_id=message.from_user.id,
        currency=paid.currency,
        total_amount=paid.total_amount,
        invoice_payload=paid.invoice_payload,
        telegram_payment_charge_id=paid.telegram_payment_charge_id,
        subscription_expiration_date=_expiration(paid.subscription_expiration_date),
        is_recurring=bool(paid.is_recurring),
        is_first_recurring=bool(paid.is_first_recurring),
    )
    outcome = await stars_billing.record_payment(payment)
    if outcome is Outcome.REJECTED:
        erased = await stars_billing.payer_erased(payment.user_id)
        await message.answer(i18n("pro-stars-refunded-erased" if erased else "pro-stars-problem"))


async def refunded_payment(message: Message, stars_billing: StarsBilling | None = None) -> None:
    """Telegram's notice that a Stars payment was refunded: counted once (PRO revoked when the
    whole price is back), whoever made the refund."""
    refund = message.refunded_payment
    if refund is None or stars_billing is None or refund.currency != STARS_CURRENCY:
        return
    await stars_billing.record_refund(refund.telegram_payment_charge_id, refund.total_amount)


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


# -- /subscription ------------------------------------------------------------------------------


async def subscription(
    message: Message, user: User, i18n: I18n, billing: BillingService | None = None
) -> None:
    if billing is None:
        await message.answer(i18n("pro-unavailable"))
        return
    view = await billing.view(user.id)
    sub = view.subscription
    if sub is None or (
        sub.status in (SubscriptionStatus.NONE, SubscriptionStatus.PENDING) and (not view.has_pro)
    ):
        await message.answer(
            i18n("subscription-none"), reply_markup=plans_keyboard(i18n, billing.plans)
        )
        return
    plan_title = view.plan.title_for(i18n.language) if view.plan else sub.plan_id
    text = i18n(
        "subscription-status",
        plan=escape(plan_title),
        state=i18n(f"subscription-state-{sub.status.value.replace('_', '-')}"),
        until=_date(view.until),
        renewal=i18n("subscription-renew-on" if sub.auto_renew else "subscription-renew-off"),
    )
    builder = InlineKeyboardBuilder()
    if view.can_cancel:
        builder.button(
            text=i18n("subscription-cancel-button"), callback_data=BillingCb(action="cancel")
        )
    if view.can_resume:
        builder.button(
            text=i18n("subscription-resume-button"), callback_data=BillingCb(action="resume")
        )
    if not view.has_pro:
        for row in plans_keyboard(i18n, billing.plans).inline_keyboard:
            builder.row(*row)
    await message.answer(text, reply_markup=builder.as_markup())


async def cancel_or_resume(
    query: CallbackQuery,
    callback_data: BillingCb,
    user: User,
    i18n: I18n,
    billing: BillingService | None = None,
) -> None:
    if billing is None:
        await query.answer()
        return
    try:
        if callback_data.action == "cancel":
            sub = await billing.cancel(user.id)
            text = i18n("subscription-cancelled", until=_date(sub.current_period_end))
        else:
            sub = await billing.resume(user.id)
            text = i18n("subscription-resumed", until=_date(sub.current_period_end))
    except NotCancellableError:
        await query.answer(i18n("subscription-not-cancellable"), show_alert=True)
        return
    except (TelegramAPIError, StarsRefusedError):
        await query.answer(i18n("pro-payment-unavailable"), show_alert=True)
        return
    await query.answer()
    if isinstance(query.message, Message):
        await query.message.edit_reply_markup(reply_markup=None)
        await query.message.answer(text)


# -- admin ---------------------------------------------------------------------------------------


def _is_admin(message: Message, settings: TelegramSettings) -> bool:
    return message.from_user is not None and message.from_user.id in settings.admin_ids


async def admin_refund(
    message: Message,
    command: CommandObject,
    i18n: I18n,
    tg_settings: TelegramSettings,
    billing: BillingService | None = None,
) -> None:
    if not _is_admin(message, tg_settings) or billing is None:
        await message.answer(i18n("admin-only"))
        return
    reference = (command.args or "").strip()
    if not reference or " " in reference:
        await message.answer(i18n("admin-refund-usage"))
        return
    try:
        outcome = await billing.refund(reference)
    except NothingToRefundError:
        await message.answer(i18n("admin-refund-nothing", reference=escape(reference)))
        return
    except (PaymentUnavailableError, TelegramAPIError):
        await message.answer(i18n("pro-payment-unavailable"))
        return
    log.info(
        "admin %s refunded %s: %s",
        message.from_user.id if message.from_user else "?",
        reference,
        outcome.value,
    )
    await message.answer(
        i18n("admin-refund-done", reference=escape(reference), outcome=outcome.value)
    )


async def admin_grant(
    message: Message,
    command: CommandObject,
    i18n: I18n,
    tg_settings: TelegramSettings,
    billing: BillingService | None = None,
) -> None:
    if not _is_admin(message, tg_settings) or billing is None or message.from_user is None:
        await message.answer(i18n("admin-only"))
        return
    parts = (command.args or "").split()
    if len(parts) != 3 or not parts[0].isdigit() or not parts[2].isdigit():
        await message.answer(i18n("admin-grant-usage"))
        return
    user_id, plan_id, days = int(parts[0]), parts[1], int(parts[2])
    try:
        sub = await billing.grant(user_id, plan_id, days, by=message.from_user.id)
    except UnknownPlanError:
        await message.answer(i18n("pro-unknown-plan"))
        return
    except ValueError:
        await message.answer(i18n("admin-grant-usage"))
        return
    log.info("admin %s granted %s %s days to %s", message.from_user.id, plan_id, days, user_id)
    await message.answer(
        i18n("admin-grant-done", user=str(user_id), until=_date(sub.current_period_end))
    )


def build_router() -> Router:
    """A fresh router per dispatcher (`companion.bot.runner.build_dispatcher` calls this)."""
    router = Router(name="billing")
    router.message.register(pro, Command("pro"), Magic(F.chat.type == "private"))
    router.callback_query.register(plan_chosen, BillingCb.filter(F.action == "plan"))
    router.callback_query.register(offer_accepted, BillingCb.filter(F.action == "offer"))
    router.callback_query.register(card_chosen, BillingCb.filter(F.action == "card"))
    router.callback_query.register(stars_chosen, BillingCb.filter(F.action == "stars"))
    router.pre_checkout_query.register(pre_checkout)
    # Payments pass the consent gate: a Stars renewal comes after /forget too, and must be
    # recorded (and refunded), not answered with the terms.
    router.message.register(
        successful_payment, Magic(F.successful_payment), flags={"consent_free": True}
    )
    router.message.register(
        refunded_payment, Magic(F.refunded_payment), flags={"consent_free": True}
    )
    router.message.register(subscription, Command("subscription"), Magic(F.chat.type == "private"))
    router.callback_query.register(
        cancel_or_resume, BillingCb.filter(F.action.in_({"cancel", "resume"}))
    )
    router.message.register(admin_refund, Command("refund"))
    router.message.register(admin_grant, Command("grant"))
    # After the commands, so /pro or /subscription still work while a contact is awaited.
    router.message.register(
        receipt_contact, StateFilter(BillingStates.receipt_contact), Magic(F.text)
    )
    return router
