"""Alerts for the shop's owner as Telegram messages to `telegram.admin_ids`.

Implements `companion.billing.service.OwnerAlerts`. The texts are operator notes (ids, amounts,
what to do), written by billing in English like its log lines; they never hold personal data.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from aiogram import Bot
from aiogram.exceptions import TelegramAPIError

log = logging.getLogger(__name__)


class AdminAlerts:
    def __init__(self, bot: Bot, admin_ids: Sequence[int]) -> None:
        self._bot = bot
        self._admin_ids = tuple(admin_ids)

    async def alert(self, text: str) -> None:
        for admin_id in self._admin_ids:
            try:
                # Plain text: an alert quotes provider data, never markup.
                await self._bot.send_message(admin_id, f"⚠️ {text}", parse_mode=None)
            except TelegramAPIError as exc:  # the log line billing wrote is the record
                log.warning("billing alert not delivered to an admin: %s", type(exc).__name__)
