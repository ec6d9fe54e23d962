"""Text messages in a private chat go to the current persona."""

from __future__ import annotations

from aiogram import Bot, F, Router
from aiogram.types import Message

from companion.bot.filters import Magic
from companion.bot.localization import I18n
from companion.bot.replying import ChatReplier
from companion.domain.models import User


async def unknown_command(message: Message, i18n: I18n) -> None:
    await message.answer(i18n("unknown-command"))


async def chat(message: Message, user: User, i18n: I18n, replier: ChatReplier, bot: Bot) -> None:
    await replier.reply(bot, message.chat.id, message.chat.type, user, i18n, message.text or "")


def build_router() -> Router:
    router = Router(name="chat")
    router.message.filter(Magic(F.chat.type == "private"))
    router.message.register(unknown_command, Magic(F.text.startswith("/")))
    router.message.register(chat, Magic(F.text))
    return router
