"""``/news``: whether the owner's news broadcasts reach this person (`UserSettings.news`).

``/news`` shows the setting with a button that flips it; ``/news on`` and ``/news off`` set it;
every broadcast carries a "turn off news" button (`NewsCb`) that does the same as ``/news off``.
Blocking the bot (Telegram's ``my_chat_member`` update) marks the person `User.blocked_at`,
unblocking clears it, so broadcasts skip blocked people before a send bounces.
Broadcasts re-read the profile before each send, so turning news off mid-campaign counts.
"""

from __future__ import annotations

from aiogram import F, Router
from aiogram.enums import ChatMemberStatus
from aiogram.filters import Command, CommandObject
from aiogram.filters.callback_data import CallbackData
from aiogram.types import (
    CallbackQuery,
    ChatMemberUpdated,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
)

from companion.bot.deps import Users
from companion.bot.filters import Magic
from companion.bot.localization import I18n
from companion.domain.models import User, utcnow

_WORDS = {"on": True, "off": False, "вкл": True, "выкл": False}


class NewsCb(CallbackData, prefix="news"):
    on: bool


def news_button(i18n: I18n, *, on: bool) -> InlineKeyboardButton:
    key = "news-button-on" if on else "news-button-off"
    return InlineKeyboardButton(text=i18n(key), callback_data=NewsCb(on=on).pack())


def _status(i18n: I18n, on: bool) -> tuple[str, InlineKeyboardMarkup]:
    text = i18n("news-status-on" if on else "news-status-off")
    return text, InlineKeyboardMarkup(inline_keyboard=[[news_button(i18n, on=not on)]])


async def news_command(
    message: Message, command: CommandObject, user: User, i18n: I18n, users: Users
) -> None:
    wanted = (command.args or "").strip().lower()
    if wanted and wanted not in _WORDS:
        await message.answer(i18n("news-usage"))
        return
    on = _WORDS[wanted] if wanted else user.settings.news
    if on != user.settings.news:
        await users.update(user.id, settings__news=on)
        user.settings.news = on
    text, markup = _status(i18n, on)
    await message.answer(text, reply_markup=markup)


async def news_button_pressed(
    query: CallbackQuery, callback_data: NewsCb, user: User, i18n: I18n, users: Users
) -> None:
    if callback_data.on != user.settings.news:
        await users.update(user.id, settings__news=callback_data.on)
        user.settings.news = callback_data.on
    text, markup = _status(i18n, callback_data.on)
    await query.answer(text)
    if isinstance(query.message, Message):
        await query.message.answer(text, reply_markup=markup)


async def bot_blocked_or_unblocked(event: ChatMemberUpdated, users: Users) -> None:
    """Telegram tells the bot when a person blocks it (its status in their chat becomes
    "kicked") or unblocks it: broadcasts and check-ins skip them from then on, not only after
    a send bounced. Nothing is stored for someone who never accepted the terms."""
    blocked = event.new_chat_member.status == ChatMemberStatus.KICKED
    await users.update(event.from_user.id, blocked_at=utcnow() if blocked else None)


def build_router() -> Router:
    router = Router(name="news")
    router.message.filter(Magic(F.chat.type == "private"))
    router.message.register(news_command, Command("news"))
    router.callback_query.register(news_button_pressed, NewsCb.filter())
    router.my_chat_member.register(bot_blocked_or_unblocked, Magic(F.chat.type == "private"))
    return router
