"""The consent gate: until the terms are accepted only onboarding handlers run.

Handlers that may run before consent carry ``flags={"consent_free": True}``; everything else
answers with a reminder and the accept button, and calls no service.

A group message from no person (an anonymous admin, a linked channel) reaches the routers
without a `User`; a handler that serves a person (it takes ``user``) is not run for it.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from functools import cache
from typing import Any

from aiogram import BaseMiddleware
from aiogram.dispatcher.event.handler import HandlerObject
from aiogram.dispatcher.flags import get_flag
from aiogram.types import CallbackQuery, Message, TelegramObject

from companion.bot.bad_updates import NO_USER, count_in
from companion.bot.keyboards import consent_keyboard
from companion.bot.localization import I18n
from companion.domain.models import User


class ConsentMiddleware(BaseMiddleware):
    """Inner middleware (the handler is known, so its flags are) on messages and buttons."""

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        user: User | None = data.get("user")
        if user is None:
            if _needs_user(data.get("handler")):
                count_in(data, NO_USER)
                return None
            return await handler(event, data)
        if user.has_consented or get_flag(data, "consent_free"):
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


def _needs_user(handler: object) -> bool:
    return isinstance(handler, HandlerObject) and _takes_user(handler.callback)


@cache
def _takes_user(callback: Callable[..., Any]) -> bool:
    """Whether the handler has a ``user`` parameter without a default."""
    try:
        parameter = inspect.signature(callback).parameters.get("user")
    except (TypeError, ValueError):
        return False
    return parameter is not None and parameter.default is inspect.Parameter.empty
