"""The claim of an update that arrived by long polling (the webhook claims before its 200):
see `companion.bot.delivery`."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware
from aiogram.types import TelegramObject, Update

from companion.bot.delivery import CLAIMED, UpdateDelivery

log = logging.getLogger(__name__)


class ClaimMiddleware(BaseMiddleware):
    """Outer middleware: claims an update that arrived without a claim (long polling), so an
    update polled twice is handled once. The webhook claims before it answers."""

    def __init__(self, delivery: UpdateDelivery) -> None:
        self._delivery = delivery

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        if data.get(CLAIMED) or not isinstance(event, Update):
            return await handler(event, data)
        # RedisError propagates: the error handler defers the update, nothing is lost.
        arrived = event.model_dump(mode="json", exclude_unset=True, by_alias=True)
        if not await self._delivery.claim(event.update_id, arrived):
            log.info("update %s was handled already; skipped", event.update_id)
            return None
        data[CLAIMED] = True
        async with self._delivery.holding(event.update_id):
            return await handler(event, data)
