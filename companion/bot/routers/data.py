"""Data rights: /export (everything stored, as a JSON file) and /forget (erase everything)."""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence

from aiogram import Bot, F, Router
from aiogram.filters import Command
from aiogram.fsm.context import FSMContext
from aiogram.types import BufferedInputFile, CallbackQuery, Message

from companion.bot.callbacks import ForgetCb
from companion.bot.deps import ErasureHook, UserData
from companion.bot.filters import Magic
from companion.bot.keyboards import forget_keyboard
from companion.bot.localization import I18n
from companion.bot.middlewares.throttling import Throttle
from companion.bot.user_cache import CachedUserStore
from companion.storage.models import User

log = logging.getLogger(__name__)


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


async def forget_confirmed(
    query: CallbackQuery,
    user: User,
    i18n: I18n,
    user_data: UserData,
    users: CachedUserStore,
    state: FSMContext,
    throttle: Throttle,
    before_erasure_hooks: Sequence[ErasureHook],
    erasure_hooks: Sequence[ErasureHook],
) -> None:
    await query.answer()
    for hook in before_erasure_hooks:
        try:
            await hook(user.id)
        except Exception:  # a subscription left renewing would go on charging an erased user
            log.exception(
                "before-erasure hook %r failed for user %s: nothing erased", hook, user.id
            )
            if isinstance(query.message, Message):
                await query.message.edit_text(i18n("forget-renewals-not-stopped"))
            return
    counts = await user_data.erase(user.id)
    for hook in erasure_hooks:
        try:
            await hook(user.id)
        except Exception:  # the database is erased already; a cache left behind expires
            log.exception("erasure hook %r failed for user %s", hook, user.id)
    await users.forget(user.id)
    await state.clear()
    await throttle.forget(user.id)
    log.info("user %s erased: %s", user.id, counts)
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
