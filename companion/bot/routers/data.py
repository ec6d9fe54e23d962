"""Data rights: /export (everything stored, as a JSON file) and /forget (erase everything)."""

from __future__ import annotations

import json

from aiogram import Bot, F, Router
from aiogram.filters import Command
from aiogram.types import BufferedInputFile, CallbackQuery, Message

from companion.bot.callbacks import ForgetCb
from companion.bot.deps import UserData
from companion.bot.filters import Magic
from companion.bot.keyboards import forget_keyboard
from companion.bot.localization import I18n
from companion.domain.models import User
from companion.privacy.erasure import Erasure, RenewalsNotStoppedError


async def export(message: Message, user: User, i18n: I18n, user_data: UserData, bot: Bot) -> None:
    await bot.send_chat_action(message.chat.id, "upload_document")
    data = await user_data.export(user.id)
    payload = json.dumps(data, ensure_ascii=False, indent=2, default=str).encode("utf-8")
    await message.answer_document(
        BufferedInputFile(payload, filename=f"companion-export-{user.id}.json"),
        caption=i18n("export-caption"),
    )


async def forget(message: Message, i18n: I18n) -> None:
    await message.answer(i18n("forget-confirm"), reply_markup=forget_keyboard(i18n))


async def forget_cancelled(query: CallbackQuery, i18n: I18n) -> None:
    await query.answer()
    if isinstance(query.message, Message):
        await query.message.edit_text(i18n("forget-cancelled"))


async def forget_confirmed(query: CallbackQuery, user: User, i18n: I18n, erasure: Erasure) -> None:
    """The one erasure use case (`companion.privacy.erasure`), as `companion db erase-user`."""
    await query.answer()
    try:
        await erasure.erase(user.id)
    except RenewalsNotStoppedError:
        if isinstance(query.message, Message):
            await query.message.edit_text(i18n("forget-renewals-not-stopped"))
        return
    if isinstance(query.message, Message):
        await query.message.edit_text(i18n("forget-done"))


def build_router() -> Router:
    router = Router(name="data")
    router.message.filter(Magic(F.chat.type == "private"))
    router.message.register(export, Command("export"))
    router.message.register(forget, Command("forget"))
    router.callback_query.register(forget_cancelled, ForgetCb.filter(F.action == "no"))
    router.callback_query.register(forget_confirmed, ForgetCb.filter(F.action == "yes"))
    return router
