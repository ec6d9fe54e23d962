"""The sender's profile and language for every update.

A person who has not accepted the terms yet is not stored: handlers get a `User` built from
Telegram's data (``user_stored`` False), and the language they pick lives in the FSM data in
Redis until they accept. After a handler ran, changes the dialogue service made to the profile
object (current persona, disclaimer shown) refresh the cache.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware
from aiogram.fsm.context import FSMContext
from aiogram.types import TelegramObject
from aiogram.types import User as TelegramUser

from companion.bot.localization import SUPPORTED_LANGUAGES, I18n, language_from_telegram
from companion.bot.user_cache import CachedUserStore
from companion.i18n import Translator
from companion.storage.models import User


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
            return await handler(event, data)
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
