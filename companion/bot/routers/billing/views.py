"""What the billing screens show: the keyboards and the paywall."""

from __future__ import annotations

from html import escape

from aiogram import Bot
from aiogram.types import InlineKeyboardMarkup
from aiogram.utils.keyboard import InlineKeyboardBuilder

from companion.billing.plans import PlanCatalog
from companion.bot.callbacks import BillingCb
from companion.bot.localization import I18n
from companion.bot.texts import money_text
from companion.config import PlanSettings


def plans_keyboard(i18n: I18n, plans: PlanCatalog) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    for plan in plans:
        builder.button(
            text=i18n(
                "pro-plan-button",
                title=plan.title_for(i18n.language),
                rub=money_text(plan.price_rub),
                stars=plan.price_stars,
            ),
            callback_data=BillingCb(action="plan", plan=plan.id),
        )
    builder.adjust(1)
    return builder.as_markup()


def methods_keyboard(
    i18n: I18n, plan: PlanSettings, *, card: bool, stars: bool
) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    if card:
        builder.button(
            text=i18n("pro-method-card", rub=money_text(plan.price_rub)),
            callback_data=BillingCb(action="card", plan=plan.id),
        )
    if stars:
        builder.button(
            text=i18n("pro-method-stars", stars=plan.price_stars),
            callback_data=BillingCb(action="stars", plan=plan.id),
        )
    builder.adjust(1)
    return builder.as_markup()


def offer_keyboard(i18n: I18n, offer_url: str, plan_id: str) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    builder.button(text=i18n("pro-offer-open-button"), url=offer_url)
    builder.button(
        text=i18n("pro-offer-accept-button"), callback_data=BillingCb(action="offer", plan=plan_id)
    )
    builder.adjust(1)
    return builder.as_markup()


def link_keyboard(text: str, url: str) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    builder.button(text=text, url=url)
    return builder.as_markup()


def subscription_keyboard(
    i18n: I18n, plans: PlanCatalog, *, can_cancel: bool, can_resume: bool, with_plans: bool
) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    if can_cancel:
        builder.button(
            text=i18n("subscription-cancel-button"), callback_data=BillingCb(action="cancel")
        )
    if can_resume:
        builder.button(
            text=i18n("subscription-resume-button"), callback_data=BillingCb(action="resume")
        )
    if with_plans:
        for row in plans_keyboard(i18n, plans).inline_keyboard:
            builder.row(*row)
    return builder.as_markup()


async def show_paywall(
    bot: Bot, chat_id: int, i18n: I18n, plans: PlanCatalog, persona_name: str | None = None
) -> None:
    """The paywall: what PRO gives and the plans. For the chat screens on NEEDS_PRO (the caller
    records the paywall_shown event, as it knows the persona)."""
    text = i18n("paywall-text", name=escape(persona_name)) if persona_name else ""
    intro = i18n("pro-intro")
    await bot.send_message(
        chat_id,
        f"{text}\n\n{intro}".strip(),
        reply_markup=plans_keyboard(i18n, plans),
    )
