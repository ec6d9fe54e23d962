"""The consent gate: until the terms are accepted only onboarding handlers run.

Handlers that may run before consent carry ``flags={"consent_free": True}``; everything else
answers with a reminder and the accept button, and calls no service.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware
from aiogram.dispatcher.flags import get_flag
from aiogram.types import CallbackQuery, Message, TelegramObject

from companion.bot.keyboards import consent_keyboard
from companion.bot.localization import I18n
from companion.storage.models import User


class ConsentMiddleware(BaseMiddleware):
    """Inner middleware (the handler is known, so its flags are) on messages and buttons."""

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        user: User | None = data.get("user")
        if user is None or user.has_consented or get_flag(data, "consent_free"):
            return await handler(event, data)
        i18n: I18n = data["i18n"]
        text = i18n("consent-required")
        markup = consent_keyboard(i18n)
        if isinstance(event, Message):
            if event.chat.type == "private":
                await event.answer(text, reply_markup=markup)
        elif isinstance(event, CallbackQuery):
            await event.answer(text, show_alert=True)
        return None
