"""The bot's HTTP session: aiogram's, but one bad update never stalls long polling.

aiogram validates a getUpdates answer as a whole. One update that does not fit its schema (a
newer Bot API, a field aiogram gets wrong) fails the whole batch: the poller logs the batch,
the person's text included, at ERROR, sleeps and asks for the same offset again, forever.
Here, when a batch fails, each update is validated alone; one that fails is replaced by a bare
``{"update_id": N}`` (so the poller's offset moves past it and the tracing middleware ignores
it) and logged with its id and the failing field paths only, like the webhook does
(`bad_updates.invalid_update`).
"""

from __future__ import annotations

from typing import Any

from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.exceptions import ClientDecodeError
from aiogram.methods import GetUpdates, TelegramMethod
from aiogram.methods.base import Response, TelegramType
from aiogram.types import Update
from pydantic import ValidationError

from companion.bot import bad_updates


class TolerantSession(AiohttpSession):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.metrics: object = None  # set at start-up (`companion.metrics.Metrics`)

    def check_response(
        self,
        bot: Bot,
        method: TelegramMethod[TelegramType],
        status_code: int,
        content: str,
    ) -> Response[TelegramType]:
        polling = isinstance(method, GetUpdates)  # a flag: narrowing `method` upsets the generic
        if polling:
            try:  # the usual case costs nothing extra
                return super().check_response(bot, method, status_code, content)
            except ClientDecodeError:  # some update in the batch does not fit: find it
                content = self._each_update_valid(bot, content)
        return super().check_response(bot, method, status_code, content)

    def _each_update_valid(self, bot: Bot, content: str) -> str:
        try:
            answer = self.json_loads(content)
        except ValueError:
            return content  # aiogram reports an undecodable answer itself
        updates = answer.get("result") if isinstance(answer, dict) else None
        if not isinstance(updates, list):
            return content
        kept: list[Any] = []
        changed = False
        for update in updates:
            try:
                Update.model_validate(update, context={"bot": bot})
            except ValidationError as exc:
                changed = True
                bad_updates.invalid_update(update, exc, self.metrics)
                update_id = update.get("update_id") if isinstance(update, dict) else None
                if isinstance(update_id, int):
                    kept.append({"update_id": update_id})
                continue
            kept.append(update)
        if not changed:
            return content
        return str(self.json_dumps({**answer, "result": kept}))
