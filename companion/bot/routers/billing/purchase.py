"""Buying PRO: /pro, a plan, the public offer, the method (card by YooKassa link or Stars),
and the receipt contact a card payment may need first."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from html import escape

from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, Message

from companion.billing.checkout import CheckoutService
from companion.billing.errors import (
    AlreadySubscribedError,
    BillingError,
    ContactRequiredError,
    InvalidContactError,
    OfferNotAcceptedError,
)
from companion.billing.management import SubscriptionManagement
from companion.billing.plans import PlanCatalog, UnknownPlanError
from companion.billing.stars import StarsBilling
from companion.bot.callbacks import BillingCb
from companion.bot.localization import I18n
from companion.bot.routers.billing.views import (
    link_keyboard,
    methods_keyboard,
    offer_keyboard,
    plans_keyboard,
)
from companion.bot.states import BillingStates
from companion.bot.texts import date_text, money_text
from companion.config import PlanSettings, TelegramSettings
from companion.domain.models import User


async def pro(
    message: Message,
    user: User,
    i18n: I18n,
    plans: PlanCatalog,
    checkout: CheckoutService,
    subscriptions: SubscriptionManagement,
) -> None:
    view = await subscriptions.view(user.id)
    lines = [i18n("pro-intro")]
    if view.has_pro:
        lines.append(i18n("pro-already-active", until=date_text(view.until)))
    await message.answer("\n\n".join(lines), reply_markup=plans_keyboard(i18n, plans))
    await checkout.paywall_shown(user.id, None)


async def plan_chosen(
    query: CallbackQuery,
    callback_data: BillingCb,
    user: User,
    i18n: I18n,
    tg_settings: TelegramSettings,
    plans: PlanCatalog,
    state: FSMContext,
    checkout: CheckoutService,
    subscriptions: SubscriptionManagement,
    stars_billing: StarsBilling,
) -> None:
    await query.answer()
    plan = _plan(plans, callback_data.plan)
    if not isinstance(query.message, Message):
        return
    if plan is None:
        await query.message.answer(i18n("pro-unknown-plan"))
    elif user.offer_accepted_at is None:
        url = tg_settings.offer_url
        markup = offer_keyboard(i18n, url, plan.id)
        await query.message.answer(i18n("pro-offer", url=escape(url)), reply_markup=markup)
    else:
        buy = _Purchase(query.message, user, i18n, state, checkout, subscriptions, stars_billing)
        await buy.choose_method(plan)


async def offer_accepted(
    query: CallbackQuery,
    callback_data: BillingCb,
    user: User,
    i18n: I18n,
    plans: PlanCatalog,
    state: FSMContext,
    checkout: CheckoutService,
    subscriptions: SubscriptionManagement,
    stars_billing: StarsBilling,
) -> None:
    await query.answer(i18n("pro-offer-accepted"))
    if user.offer_accepted_at is None:
        user.offer_accepted_at = await checkout.accept_offer(user.id)
    if not isinstance(query.message, Message):
        return
    await query.message.edit_reply_markup(reply_markup=None)
    plan = _plan(plans, callback_data.plan)
    if plan is not None:
        buy = _Purchase(query.message, user, i18n, state, checkout, subscriptions, stars_billing)
        await buy.choose_method(plan)


async def card_chosen(
    query: CallbackQuery,
    callback_data: BillingCb,
    user: User,
    i18n: I18n,
    state: FSMContext,
    checkout: CheckoutService,
    subscriptions: SubscriptionManagement,
    stars_billing: StarsBilling,
) -> None:
    await query.answer()
    if not isinstance(query.message, Message):
        return
    buy = _Purchase(query.message, user, i18n, state, checkout, subscriptions, stars_billing)
    # A method button from before the subscription started: the same rule as /pro.
    if not await buy.refused():
        await buy.by_card(callback_data.plan)


async def stars_chosen(
    query: CallbackQuery,
    callback_data: BillingCb,
    user: User,
    i18n: I18n,
    state: FSMContext,
    checkout: CheckoutService,
    subscriptions: SubscriptionManagement,
    stars_billing: StarsBilling,
) -> None:
    await query.answer()
    if not isinstance(query.message, Message):
        return
    buy = _Purchase(query.message, user, i18n, state, checkout, subscriptions, stars_billing)
    if not stars_billing.selling:  # a button from before Stars were switched off
        await query.message.answer(i18n("pro-unavailable"))
    elif not await buy.refused():
        await buy.by_stars(callback_data.plan)


async def receipt_contact(
    message: Message,
    user: User,
    i18n: I18n,
    state: FSMContext,
    checkout: CheckoutService,
    subscriptions: SubscriptionManagement,
    stars_billing: StarsBilling,
) -> None:
    text = message.text or ""
    if text.startswith("/"):
        await state.clear()
        await message.answer(i18n("pro-contact-cancelled"))
        return
    try:
        user.receipt_contact = await checkout.set_receipt_contact(user.id, text)
    except InvalidContactError:
        await message.answer(i18n("pro-contact-invalid"))
        return
    plan_id = str((await state.get_data()).get("billing_plan", ""))
    await state.clear()
    await message.answer(i18n("pro-contact-saved"))
    buy = _Purchase(message, user, i18n, state, checkout, subscriptions, stars_billing)
    await buy.by_card(plan_id)


# -- the steps the handlers share ---------------------------------------------------------------


def _plan(plans: PlanCatalog, plan_id: str) -> PlanSettings | None:
    try:
        return plans.get(plan_id)
    except UnknownPlanError:
        return None


@dataclass(frozen=True, slots=True)
class _Purchase:
    """One person buying PRO from one chat message's screen."""

    message: Message
    user: User
    i18n: I18n
    state: FSMContext
    checkout: CheckoutService
    subscriptions: SubscriptionManagement
    stars: StarsBilling

    async def choose_method(self, plan: PlanSettings) -> None:
        """Pay at once when one method is open; offer the choice when both are."""
        if await self.refused():
            return
        i18n = self.i18n
        card, stars = self.checkout.yookassa_enabled, self.stars.selling
        if card and stars:
            markup = methods_keyboard(i18n, plan, card=card, stars=stars)
            text = i18n("pro-method-choose", title=plan.title_for(i18n.language))
            await self.message.answer(text, reply_markup=markup)
        elif card:
            await self.by_card(plan.id)
        elif stars:
            await self.by_stars(plan.id)
        else:
            await self.message.answer(i18n("pro-unavailable"))

    async def refused(self) -> bool:
        """One renewing subscription per user: a second one (above all a Stars subscription
        next to a card one) would go on charging unseen. Switching is explicit: turn renewal
        off first. True when the purchase was refused (and the user told so)."""
        view = await self.subscriptions.view(self.user.id)
        if not view.can_cancel:
            return False
        await self.message.answer(self.i18n("pro-already-subscribed", until=date_text(view.until)))
        return True

    async def by_card(self, plan_id: str) -> None:
        message, i18n, state = self.message, self.i18n, self.state
        try:
            checkout = await self.checkout.start_yookassa_checkout(self.user, plan_id)
        except ContactRequiredError:
            await state.set_state(BillingStates.receipt_contact)
            await state.update_data(billing_plan=plan_id)
            await message.answer(i18n("pro-contact-ask"))
            return
        except UnknownPlanError:
            await message.answer(i18n("pro-unknown-plan"))
            return
        except BillingError as exc:
            await message.answer(i18n(error_key(exc)))
            return
        plan = checkout.plan
        rub = money_text(plan.price_rub)
        text = i18n("pro-pay-link", title=plan.title_for(i18n.language), rub=rub)
        markup = link_keyboard(i18n("pro-pay-button"), checkout.confirmation_url)
        await message.answer(text, reply_markup=markup)

    async def by_stars(self, plan_id: str) -> None:
        message, i18n = self.message, self.i18n
        description = i18n("pro-stars-description")
        try:
            link = await self.stars.create_invoice_link(self.user, plan_id, description)
        except UnknownPlanError:
            await message.answer(i18n("pro-unknown-plan"))
            return
        except AlreadySubscribedError as exc:
            until = exc.until if isinstance(exc.until, datetime) else None
            await message.answer(i18n("pro-already-subscribed", until=date_text(until)))
            return
        except BillingError as exc:
            await message.answer(i18n(error_key(exc)))
            return
        markup = link_keyboard(i18n("pro-stars-button"), link)
        await message.answer(i18n("pro-stars-link"), reply_markup=markup)


def error_key(exc: BillingError) -> str:
    if isinstance(exc, OfferNotAcceptedError):
        return "pro-offer-needed"
    return "pro-payment-unavailable"
