"""Inline keyboards of the bot's screens."""

from __future__ import annotations

from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup
from aiogram.utils.keyboard import InlineKeyboardBuilder

from companion.bot.callbacks import AdultCb, ConsentCb, ForgetCb, LanguageCb, MemoryCb
from companion.bot.localization import I18n


def language_keyboard(i18n: I18n, *, then: str = "onboard") -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    builder.button(text=i18n("lang-button-ru"), callback_data=LanguageCb(code="ru", then=then))
    builder.button(text=i18n("lang-button-en"), callback_data=LanguageCb(code="en", then=then))
    return builder.as_markup()


def consent_keyboard(i18n: I18n) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [
                InlineKeyboardButton(
                    text=i18n("consent-accept-button"), callback_data=ConsentCb().pack()
                )
            ],
        ]
    )


def adult_keyboard(i18n: I18n, persona_id: str) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    builder.button(text=i18n("adult-confirm-button"), callback_data=AdultCb(persona=persona_id))
    return builder.as_markup()


def forget_keyboard(i18n: I18n) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    builder.button(text=i18n("forget-yes"), callback_data=ForgetCb(action="yes"))
    builder.button(text=i18n("forget-no"), callback_data=ForgetCb(action="no"))
    builder.adjust(1)
    return builder.as_markup()


def memory_keyboard(
    fact_ids: list[str], i18n: I18n, *, editing: bool = False
) -> InlineKeyboardMarkup | None:
    """A button per listed fact (delete, or reword when `editing`), then the mode switch."""
    if not fact_ids:
        return None
    icon, action = ("✏️", "edit") if editing else ("🗑", "del")
    builder = InlineKeyboardBuilder()
    for number, fact_id in enumerate(fact_ids, start=1):
        builder.button(text=f"{icon} {number}", callback_data=MemoryCb(action=action, fact=fact_id))
    builder.adjust(5)
    switch = MemoryCb(action="delmode" if editing else "editmode")
    label = i18n("memory-mode-delete" if editing else "memory-mode-edit")
    builder.row(InlineKeyboardButton(text=label, callback_data=switch.pack()))
    return builder.as_markup()


def memory_cancel_keyboard(i18n: I18n) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    builder.button(text=i18n("memory-edit-cancel"), callback_data=MemoryCb(action="cancel"))
    return builder.as_markup()
