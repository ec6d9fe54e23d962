"""The persona library: /persona, paging, module filter, choosing; /reset; the 18+ confirmation."""

from __future__ import annotations

from aiogram import Bot, F, Router
from aiogram.filters import Command
from aiogram.types import CallbackQuery, Message

from companion.billing.checkout import CheckoutService
from companion.bot.bad_updates import quietly
from companion.bot.callbacks import AdultCb, LibraryCb
from companion.bot.deps import Dialogs
from companion.bot.filters import Magic
from companion.bot.library import LibraryView
from companion.bot.localization import I18n
from companion.bot.replying import ChatReplier
from companion.bot.texts import escape
from companion.dialogs.events import AccessDeniedError, UnknownPersonaError
from companion.domain.models import User
from companion.metrics import Metrics
from companion.personas.forms import persona_text_args


async def open_library(message: Message, i18n: I18n, library: LibraryView, bot: Bot) -> None:
    await library.show(bot, message.chat.id, i18n)


async def turn_page(
    query: CallbackQuery, callback_data: LibraryCb, i18n: I18n, library: LibraryView, bot: Bot
) -> None:
    await query.answer()
    if not isinstance(query.message, Message):
        return
    await library.turn(
        bot,
        query.message.chat.id,
        query.message.message_id,
        i18n,
        module=callback_data.module,
        index=callback_data.index,
    )


async def page_number(query: CallbackQuery) -> None:
    await query.answer()


async def pick(
    query: CallbackQuery,
    callback_data: LibraryCb,
    user: User,
    i18n: I18n,
    dialogs: Dialogs,
    replier: ChatReplier,
    bot: Bot,
) -> None:
    await query.answer()
    await start_conversation(
        bot, query.from_user.id, user, i18n, dialogs, replier, callback_data.persona
    )


async def adult_confirmed(
    query: CallbackQuery,
    callback_data: AdultCb,
    user: User,
    i18n: I18n,
    checkout: CheckoutService,
    dialogs: Dialogs,
    replier: ChatReplier,
    bot: Bot,
    metrics: Metrics,
) -> None:
    if user.adult_confirmed_at is None:
        user.adult_confirmed_at = await checkout.confirm_adult(user.id)
    await query.answer(i18n("adult-confirmed"))
    if isinstance(query.message, Message):
        await quietly(query.message.edit_reply_markup(reply_markup=None), metrics)
    await start_conversation(
        bot, query.from_user.id, user, i18n, dialogs, replier, callback_data.persona
    )


async def reset(
    message: Message,
    user: User,
    i18n: I18n,
    dialogs: Dialogs,
    replier: ChatReplier,
    library: LibraryView,
    bot: Bot,
) -> None:
    if user.current_persona_id is None:
        await message.answer(i18n("no-persona"))
        await library.show(bot, message.chat.id, i18n)
        return
    await start_conversation(
        bot, message.chat.id, user, i18n, dialogs, replier, user.current_persona_id, fresh=True
    )


async def start_conversation(
    bot: Bot,
    chat_id: int,
    user: User,
    i18n: I18n,
    dialogs: Dialogs,
    replier: ChatReplier,
    persona_id: str,
    *,
    fresh: bool = False,
) -> None:
    try:
        started = await dialogs.start(user, persona_id, fresh=fresh)
    except UnknownPersonaError:
        await bot.send_message(chat_id, i18n("persona-unknown"))
        return
    except AccessDeniedError as exc:
        await replier.access_denied(bot, chat_id, user, i18n, persona_id, exc.decision)
        return
    # Declined name forms ("со Львом") and the persona's ты/вы for the texts' selectors.
    args = persona_text_args(started.persona, i18n.language, escape=escape)
    for notice in started.notices:
        notice_i18n = i18n.for_language(notice.language)
        await bot.send_message(chat_id, notice_i18n(notice.text_key, address=args["address"]))
    key = "persona-resumed" if started.resumed else "persona-started"
    if fresh:
        key = "reset-done"
    await bot.send_message(chat_id, i18n(key, **args))
    if started.greeting:
        await bot.send_message(chat_id, escape(started.greeting))


def build_router() -> Router:
    router = Router(name="library")
    router.message.filter(Magic(F.chat.type == "private"))
    router.message.register(open_library, Command("persona"))
    router.callback_query.register(turn_page, LibraryCb.filter(F.action == "page"))
    router.callback_query.register(page_number, LibraryCb.filter(F.action == "noop"))
    router.callback_query.register(pick, LibraryCb.filter(F.action == "pick"))
    router.callback_query.register(adult_confirmed, AdultCb.filter())
    router.message.register(reset, Command("reset"))
    return router
