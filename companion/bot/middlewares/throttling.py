"""Anti-flood: at most N messages per user per window, counted in Redis (shared by workers).

The first message over the limit gets one polite notice; the rest of the flood is dropped
silently until the window ends.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware
from aiogram.types import CallbackQuery, Message, TelegramObject, Update
from redis.asyncio import Redis
from redis.exceptions import RedisError

from companion.bot.bad_updates import THROTTLED, count_in
from companion.bot.localization import I18n

log = logging.getLogger(__name__)


class Throttle:
    def __init__(self, redis: Redis, *, prefix: str, limit: int, window_s: int) -> None:
        self._redis = redis
        self._prefix = prefix
        self.limit = limit
        self.window_s = max(1, window_s)

    async def hit(self, user_id: int, kind: str = "msg") -> int:
        """Count one message (or button press, `kind="cb"`); returns how many of that kind
        the user sent in the current window."""
        window = int(time.time()) // self.window_s
        key = f"{self._prefix}:bot:throttle:{kind}:{user_id}:{window}"
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.incr(key)
            pipe.expire(key, self.window_s + 1)
            count, _ = await pipe.execute()
        return int(count)

    async def forget(self, user_id: int) -> None:
        window = int(time.time()) // self.window_s
        await self._redis.delete(
            *(f"{self._prefix}:bot:throttle:{kind}:{user_id}:{window}" for kind in ("msg", "cb"))
        )


def is_payment(message: Message) -> bool:
    """Telegram's news about money (a payment made, a payment refunded): never throttled nor
    counted, since dropping it loses a payment the user already made."""
    return message.successful_payment is not None or message.refunded_payment is not None


class ThrottlingMiddleware(BaseMiddleware):
    """Outer middleware on updates, after the user's language is known. Private messages and
    button presses are counted apart (presses may come twice as often: paging the library).
    Payments (`successful_payment`, `refunded_payment` messages, pre-checkout queries) and
    everything else pass, uncounted."""

    def __init__(self, throttle: Throttle) -> None:
        self._throttle = throttle

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        if data.get("delivery_attempt"):
            # A retry of an update that failed for a dependency (companion.bot.delivery): it
            # was counted on its first try, and a flood check now would drop it.
            return await handler(event, data)
        if isinstance(event, Update) and event.callback_query is not None:
            return await self._button(event.callback_query, handler, event, data)
        message = event.message if isinstance(event, Update) else None
        # Group chatter is mostly ignored anyway; a flood notice there would be noise.
        if message is None or message.from_user is None or message.chat.type != "private":
            return await handler(event, data)
        if is_payment(message):
            return await handler(event, data)
        try:
            count = await self._throttle.hit(message.from_user.id)
        except RedisError:
            log.warning("throttling unavailable (Redis); letting the message through")
            return await handler(event, data)
        if count <= self._throttle.limit:
            return await handler(event, data)
        count_in(data, THROTTLED)
        if count == self._throttle.limit + 1:
            log.info("user %s is flooding; one notice sent", message.from_user.id)
            i18n: I18n = data["i18n"]
            await message.answer(i18n("throttled"))
        return None

    async def _button(
        self,
        query: CallbackQuery,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        try:
            count = await self._throttle.hit(query.from_user.id, "cb")
        except RedisError:
            return await handler(event, data)
        if count <= 2 * self._throttle.limit:
            return await handler(event, data)
        # Every press must be answered or the button spins; the answer itself is the notice.
        i18n: I18n = data["i18n"]
        await query.answer(i18n("throttled"))
        return None
