"""/admin: the panel's menu, one button per section, and the way back to it.

Sections edit the menu message in place; `back_row` is the "back to the menu" button every
section screen ends with.
"""

from __future__ import annotations

from aiogram.exceptions import TelegramBadRequest
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message
from aiogram.utils.keyboard import InlineKeyboardBuilder

from companion.bot.localization import I18n
from companion.bot.routers.admin.callbacks import SECTIONS, AdminSection

# An admin who never went through /start still runs the console (no terms to accept for it).
CONSENT_FREE = {"consent_free": True}


def menu_keyboard(i18n: I18n) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    for section in SECTIONS:
        builder.button(
            text=i18n(f"admin-section-{section}"), callback_data=AdminSection(section=section)
        )
    builder.button(text=i18n("admin-refresh"), callback_data=AdminSection(section="menu"))
    builder.adjust(2)
    return builder.as_markup()


def back_row(i18n: I18n) -> list[InlineKeyboardButton]:
    return [
        InlineKeyboardButton(
            text=i18n("admin-back"), callback_data=AdminSection(section="menu").pack()
        )
    ]


async def edit_or_send(query: CallbackQuery, text: str, markup: InlineKeyboardMarkup) -> None:
    """Show a screen in place of the button's message (a new one when it cannot be edited)."""
    message = query.message
    await query.answer()
    if not isinstance(message, Message):
        return
    try:
        await message.edit_text(text, reply_markup=markup)
    except TelegramBadRequest as error:
        # A refresh with nothing new is "message is not modified": the screen is right already.
        if "not modified" not in error.message:
            await message.answer(text, reply_markup=markup)


async def open_menu(message: Message, i18n: I18n, state: FSMContext) -> None:
    await state.clear()
    await message.answer(i18n("admin-menu"), reply_markup=menu_keyboard(i18n))


async def back_to_menu(query: CallbackQuery, i18n: I18n, state: FSMContext) -> None:
    await state.clear()
    await edit_or_send(query, i18n("admin-menu"), menu_keyboard(i18n))
