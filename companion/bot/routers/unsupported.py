"""Everything the bot does not understand: a short friendly answer, or silence where people
expect it (edited messages, group chatter that is not addressed to the bot). Included last."""

from __future__ import annotations

from aiogram import Bot, F, Router
from aiogram.types import Message

from companion.bot.localization import I18n

router = Router(name="unsupported")


def _addressed_to_bot(message: Message, bot_username: str | None) -> bool:
    reply = message.reply_to_message
    if reply is not None and reply.from_user is not None and reply.from_user.is_bot:
        return True
    text = message.text or message.caption or ""
    return bool(bot_username) and f"@{bot_username}".lower() in text.lower()


@router.message(F.chat.type.in_({"group", "supergroup"}), flags={"consent_free": True})
async def group_message(message: Message, i18n: I18n, bot: Bot) -> None:
    me = await bot.me()
    if _addressed_to_bot(message, me.username):
        await message.reply(i18n("group-private-only", bot_username=me.username or ""))


@router.edited_message(flags={"consent_free": True})
async def edited(message: Message) -> None:
    """Edits do not change what the persona already answered; say nothing."""


@router.message(F.sticker)
async def sticker(message: Message, i18n: I18n) -> None:
    await message.answer(i18n("unsupported-sticker"))


@router.message(F.document)
async def document(message: Message, i18n: I18n) -> None:
    await message.answer(i18n("unsupported-document"))


@router.message(F.location | F.venue)
async def location(message: Message, i18n: I18n) -> None:
    await message.answer(i18n("unsupported-location"))


@router.message(F.poll)
async def poll(message: Message, i18n: I18n) -> None:
    await message.answer(i18n("unsupported-poll"))


@router.message(F.chat.type == "private")
async def anything_else(message: Message, i18n: I18n) -> None:
    await message.answer(i18n("unsupported-media"))
