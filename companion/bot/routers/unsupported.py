"""Everything the bot does not understand: a short friendly answer, or silence where people
expect it (edited messages, group chatter that is not addressed to the bot). Included last."""

from __future__ import annotations

from aiogram import Bot, F, Router
from aiogram.types import Message

from companion.bot.filters import Magic
from companion.bot.localization import I18n


def _addressed_to_bot(message: Message, bot_username: str | None) -> bool:
    reply = message.reply_to_message
    if reply is not None and reply.from_user is not None and reply.from_user.is_bot:
        return True
    text = message.text or message.caption or ""
    return bool(bot_username) and f"@{bot_username}".lower() in text.lower()


async def group_message(message: Message, i18n: I18n, bot: Bot) -> None:
    me = await bot.me()
    if _addressed_to_bot(message, me.username):
        await message.reply(i18n("group-private-only", bot_username=me.username or ""))


async def edited(message: Message) -> None:
    """Edits do not change what the persona already answered; say nothing."""


async def sticker(message: Message, i18n: I18n) -> None:
    await message.answer(i18n("unsupported-sticker"))


async def document(message: Message, i18n: I18n) -> None:
    await message.answer(i18n("unsupported-document"))


async def location(message: Message, i18n: I18n) -> None:
    await message.answer(i18n("unsupported-location"))


async def poll(message: Message, i18n: I18n) -> None:
    await message.answer(i18n("unsupported-poll"))


async def anything_else(message: Message, i18n: I18n) -> None:
    await message.answer(i18n("unsupported-media"))


def build_router() -> Router:
    router = Router(name="unsupported")
    router.message.register(
        group_message, Magic(F.chat.type.in_({"group", "supergroup"})), flags={"consent_free": True}
    )
    router.edited_message.register(edited, flags={"consent_free": True})
    router.message.register(sticker, Magic(F.sticker))
    router.message.register(document, Magic(F.document))
    router.message.register(location, Magic(F.location | F.venue))
    router.message.register(poll, Magic(F.poll))
    router.message.register(anything_else, Magic(F.chat.type == "private"))
    return router
