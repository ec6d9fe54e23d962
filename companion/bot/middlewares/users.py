"""The sender's profile and language for every update.

A person who has not accepted the terms yet is not stored: handlers get a `User` built from
Telegram's data (``user_stored`` False), and the language they pick lives in the FSM data in
Redis until they accept. After a handler ran, changes the dialogue service made to the profile
object (current persona, disclaimer shown) refresh the cache.

Updates without a person behind them (channel posts, other bots, anonymous group admins, who
write as "GroupAnonymousBot") get no `User`. Group messages still go on, to the group handlers
that answer without a profile (the consent gate keeps them from any handler that needs one);
everything else of the kind is ignored and counted.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware
from aiogram.dispatcher.event.bases import UNHANDLED
from aiogram.fsm.context import FSMContext
from aiogram.types import TelegramObject, Update
from aiogram.types import User as TelegramUser

from companion.bot.bad_updates import INVALID_UPDATE, NO_USER, count_in
from companion.bot.localization import SUPPORTED_LANGUAGES, I18n, language_from_telegram
from companion.bot.user_cache import CachedUserStore
from companion.domain.models import User
from companion.i18n import Translator

log = logging.getLogger(__name__)
_GROUPS = frozenset({"group", "supergroup"})
# "at most 52 significant bits" (Bot API, User.id): anything else is forged, and MongoDB
# cannot even look up an id beyond 64 bits.
_MAX_USER_ID = 2**52


def _group_message(event: TelegramObject) -> bool:
    if not isinstance(event, Update):
        return False
    message = event.message or event.edited_message
    return message is not None and message.chat.type in _GROUPS


def _from_person(event: TelegramObject) -> bool:
    """A message or a button press: only possible while the bot is not blocked (a
    ``my_chat_member`` update, by contrast, may be the block itself)."""
    return isinstance(event, Update) and (
        event.message is not None or event.callback_query is not None
    )


class UserMiddleware(BaseMiddleware):
    def __init__(self, users: CachedUserStore, default_language: str) -> None:
        self._users = users
        self._default_language = default_language

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        sender: TelegramUser | None = data.get("event_from_user")
        if sender is None or sender.is_bot:
            if _group_message(event):
                return await handler(event, data)
            count_in(data, NO_USER)
            log.debug(
                "update %s ignored: no person behind it",
                event.update_id if isinstance(event, Update) else None,
            )
            return UNHANDLED
        if not 0 < sender.id < _MAX_USER_ID:
            count_in(data, INVALID_UPDATE)
            log.warning(
                "update %s ignored: impossible user id",
                event.update_id if isinstance(event, Update) else None,
            )
            return UNHANDLED
        user = await self._users.get(sender.id)
        stored = user is not None
        if user is not None and (user.first_name, user.username) != (
            sender.first_name,
            sender.username,
        ):
            # People rename themselves; the persona should use the name they go by now.
            updated = await self._users.update(
                sender.id, first_name=sender.first_name, username=sender.username
            )
            user = updated or user
        if user is not None and user.blocked_at is not None and _from_person(event):
            # Writing to the bot means they unblocked it: news and check-ins reach them again.
            user = await self._users.update(sender.id, blocked_at=None) or user
        if user is None:
            language = language_from_telegram(sender.language_code, self._default_language)
            state: FSMContext | None = data.get("state")
            if state is not None:
                chosen = (await state.get_data()).get("language")
                if chosen in SUPPORTED_LANGUAGES:
                    language = chosen
            user = User(
                id=sender.id,
                language=language,
                first_name=sender.first_name,
                username=sender.username,
            )
        data["user"] = user
        data["user_stored"] = stored
        before = user.model_dump() if stored else None
        result = await handler(event, data)
        if before is not None and user.model_dump() != before:
            await self._users.remember(user, only_if_cached=True)
        return result


class I18nMiddleware(BaseMiddleware):
    def __init__(self, translator: Translator, default_language: str) -> None:
        self._translator = translator
        self._default_language = default_language

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        user: User | None = data.get("user")
        language = user.language if user is not None else self._default_language
        data["i18n"] = I18n(self._translator, language)
        return await handler(event, data)
