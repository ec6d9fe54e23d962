"""Onboarding: /start → language → welcome → terms and privacy consent → the library.

Nothing about the person is written to MongoDB before they accept: the language they pick is
kept in the FSM data (Redis, with a TTL) and becomes part of the profile at consent.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from aiogram import Bot, F, Router
from aiogram.filters import Command, CommandStart
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, Message
from redis.asyncio import Redis
from redis.exceptions import RedisError

from companion.bot.bad_updates import quietly
from companion.bot.callbacks import ConsentCb, LanguageCb
from companion.bot.filters import Magic
from companion.bot.keyboards import consent_keyboard, language_keyboard
from companion.bot.library import LibraryView
from companion.bot.localization import SUPPORTED_LANGUAGES, I18n
from companion.bot.user_cache import CachedUserStore
from companion.config import TelegramSettings
from companion.domain.models import Event, EventName, User
from companion.domain.ports import EventSink

log = logging.getLogger(__name__)

FREE = {"consent_free": True}


async def start(
    message: Message,
    user: User,
    i18n: I18n,
    library: LibraryView,
    bot: Bot,
    redis: Redis,
    key_prefix: str,
) -> None:
    await _count_start(redis, key_prefix)
    if user.has_consented:
        await message.answer(i18n("welcome"))
        await library.show(bot, message.chat.id, i18n)
        return
    await message.answer(i18n("lang-choose"), reply_markup=language_keyboard(i18n))


async def change_language(message: Message, i18n: I18n) -> None:
    await message.answer(i18n("lang-choose"), reply_markup=language_keyboard(i18n, then="only"))


async def language_chosen(
    query: CallbackQuery,
    callback_data: LanguageCb,
    user: User,
    user_stored: bool,
    users: CachedUserStore,
    state: FSMContext,
    i18n: I18n,
    library: LibraryView,
    tg_settings: TelegramSettings,
    bot: Bot,
    metrics: object = None,
) -> None:
    language = callback_data.code if callback_data.code in SUPPORTED_LANGUAGES else i18n.language
    if user_stored:
        await users.update(user.id, language=language)
    else:
        await state.update_data(language=language)
    user.language = language
    i18n = i18n.for_language(language)
    await query.answer()
    chat_id = query.from_user.id
    # Button data can be forged onto any message: only a text message can become this text.
    if isinstance(query.message, Message) and query.message.text is not None:
        # A second tap on the same keyboard finds the text already set: not an error.
        await quietly(query.message.edit_text(i18n("lang-set")), metrics)
    if callback_data.then != "onboard":
        return
    await bot.send_message(chat_id, i18n("welcome"))
    if user.has_consented:
        await library.show(bot, chat_id, i18n)
        return
    await bot.send_message(
        chat_id,
        i18n(
            "consent-request",
            terms_url=tg_settings.terms_url,
            privacy_url=tg_settings.privacy_url,
        ),
        reply_markup=consent_keyboard(i18n),
        disable_web_page_preview=True,
    )


async def consent_accepted(
    query: CallbackQuery,
    user: User,
    users: CachedUserStore,
    state: FSMContext,
    i18n: I18n,
    library: LibraryView,
    events: EventSink | None,
    bot: Bot,
    metrics: object = None,
) -> None:
    await query.answer()
    chat_id = query.from_user.id
    if isinstance(query.message, Message):
        await quietly(query.message.edit_reply_markup(reply_markup=None), metrics)
    if not user.has_consented:
        now = datetime.now(UTC)
        existing = await users.get(user.id)
        if existing is None:
            user.consent_at = now
            await users.upsert(user)
        else:
            await users.update(user.id, consent_at=now, language=user.language)
        user.consent_at = now
        await state.set_data({})
        if events is not None:
            await events.record(Event(user_id=user.id, name=EventName.START, at=now))
            await events.record(Event(user_id=user.id, name=EventName.CONSENT, at=now))
        log.info("user %s accepted the terms", user.id)
    await bot.send_message(chat_id, i18n("consent-accepted"))
    await library.show(bot, chat_id, i18n)


async def help_command(message: Message, i18n: I18n) -> None:
    await message.answer(i18n("help"))
    await message.answer(i18n("support-disclaimer"))


async def _count_start(redis: Redis, prefix: str) -> None:
    """An anonymous daily /start counter for the funnel (people who never accept are not
    stored, so this is the only trace of them)."""
    day = datetime.now(UTC).strftime("%Y%m%d")
    try:
        await redis.incr(f"{prefix}:stats:starts:{day}")
    except RedisError:
        log.warning("could not count /start")


def build_router() -> Router:
    router = Router(name="start")
    router.message.filter(Magic(F.chat.type == "private"))
    router.callback_query.filter(Magic(F.message.chat.type == "private"))
    router.message.register(start, CommandStart(), flags=FREE)
    router.message.register(change_language, Command("lang"), flags=FREE)
    router.callback_query.register(language_chosen, LanguageCb.filter(), flags=FREE)
    router.callback_query.register(consent_accepted, ConsentCb.filter(), flags=FREE)
    router.message.register(help_command, Command("help"), flags=FREE)
    return router
