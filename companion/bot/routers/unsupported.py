"""Everything the bot does not understand: a short friendly answer, or silence where people
expect it (edited messages, group chatter that is not addressed to the bot). Included last."""

from __future__ import annotations

from aiogram import Bot, F, Router
from aiogram.types import CallbackQuery, Message

from companion.bot.bad_updates import quietly
from companion.bot.filters import Magic
from companion.bot.localization import I18n
from companion.metrics import Metrics


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


async def stale_button(query: CallbackQuery, i18n: I18n, metrics: Metrics) -> None:
    """A button no handler takes (an old message's, a forged one, an admin's pressed by
    someone else): answered, so the client's spinner stops, and nothing else happens."""
    await quietly(query.answer(i18n("unsupported-button")), metrics)


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
    router.callback_query.register(stale_button, flags={"consent_free": True})
    return router
