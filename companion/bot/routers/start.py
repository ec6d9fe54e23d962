"""Onboarding: /start → language → welcome → terms and privacy consent → time zone (asked
once, skippable) → the library.

The use cases (the /start counter, storing the person at consent) are
`companion.privacy.consent.Onboarding`; until consent the chosen language is kept in the FSM
data (Redis, with a TTL), so nothing about the person is in MongoDB before they accept.
"""

from __future__ import annotations

from aiogram import Bot, F, Router
from aiogram.filters import Command, CommandStart
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, Message

from companion.bot.bad_updates import quietly
from companion.bot.callbacks import ConsentCb, LanguageCb
from companion.bot.filters import Magic
from companion.bot.keyboards import consent_keyboard, language_keyboard
from companion.bot.library import LibraryView
from companion.bot.localization import SUPPORTED_LANGUAGES, I18n
from companion.bot.routers.timezone import ask_timezone
from companion.config import TelegramSettings
from companion.domain.models import User
from companion.metrics import Metrics
from companion.personas.forms import address_of
from companion.privacy.consent import Onboarding

FREE = {"consent_free": True}


async def start(
    message: Message, user: User, i18n: I18n, library: LibraryView, bot: Bot, onboarding: Onboarding
) -> None:
    await onboarding.count_start(new=not user.has_consented)
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
    state: FSMContext,
    i18n: I18n,
    onboarding: Onboarding,
    library: LibraryView,
    tg_settings: TelegramSettings,
    bot: Bot,
    metrics: Metrics,
) -> None:
    language = callback_data.code if callback_data.code in SUPPORTED_LANGUAGES else i18n.language
    await _keep_language(user, user_stored, language, state, onboarding)
    i18n = i18n.for_language(language)
    await query.answer()
    # Button data can be forged onto any message: only a text message can become this text.
    if isinstance(query.message, Message) and query.message.text is not None:
        # A second tap on the same keyboard finds the text already set: not an error.
        await quietly(query.message.edit_text(i18n("lang-set")), metrics)
    if callback_data.then == "onboard":
        await _welcome(bot, query.from_user.id, user, i18n, library, tg_settings)


async def _keep_language(
    user: User, stored: bool, language: str, state: FSMContext, onboarding: Onboarding
) -> None:
    if stored:
        await onboarding.set_language(user.id, language)
    else:
        await state.update_data(language=language)  # nothing is stored before consent
        await onboarding.count_language_chosen()
    user.language = language


async def _welcome(
    bot: Bot, chat_id: int, user: User, i18n: I18n, library: LibraryView, tg: TelegramSettings
) -> None:
    """The welcome, then the terms to accept (or the library, for someone who accepted)."""
    await bot.send_message(chat_id, i18n("welcome"))
    if user.has_consented:
        await library.show(bot, chat_id, i18n)
        return
    await bot.send_message(
        chat_id,
        i18n("consent-request", terms_url=tg.terms_url, privacy_url=tg.privacy_url),
        reply_markup=consent_keyboard(i18n),
        disable_web_page_preview=True,
    )


async def consent_accepted(
    query: CallbackQuery,
    user: User,
    state: FSMContext,
    i18n: I18n,
    library: LibraryView,
    onboarding: Onboarding,
    bot: Bot,
    metrics: Metrics,
) -> None:
    await query.answer()
    if isinstance(query.message, Message):
        await quietly(query.message.edit_reply_markup(reply_markup=None), metrics)
    first = await onboarding.accept_terms(user)
    if first:
        await state.set_data({})
    await bot.send_message(query.from_user.id, i18n("consent-accepted"))
    if first:  # asked once; the zone inferred from the language holds until then
        await ask_timezone(bot, query.from_user.id, user, i18n)
    await library.show(bot, query.from_user.id, i18n)


async def help_command(message: Message, i18n: I18n, user: User, library: LibraryView) -> None:
    await message.answer(i18n("help"))
    # The disclaimer speaks for the persona in the chat: its ты/вы ("вы" before one is chosen).
    persona = library.persona(user.current_persona_id) if user.current_persona_id else None
    await message.answer(i18n("support-disclaimer", address=address_of(persona)))


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
