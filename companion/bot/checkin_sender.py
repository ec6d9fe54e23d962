"""`CheckinSender` over the Bot API: what a check-in send's answer means for the job.

- delivered: SENT;
- 403 (the person blocked the bot, or deleted their account): BLOCKED; the service marks the
  user and never writes to them again until they write first;
- any other answer from Telegram (429, 400 "chat not found", 5xx): FAILED, nothing delivered,
  tried again later;
- no answer at all (`TelegramNetworkError`: a timeout may come after delivery) propagates, and
  the job is never resent (at most once, see `companion.outreach.store`).
"""

from __future__ import annotations

import logging

from aiogram import Bot
from aiogram.exceptions import TelegramAPIError, TelegramForbiddenError, TelegramNetworkError

from companion.bot.texts import escape
from companion.domain.ports import SendOutcome

log = logging.getLogger(__name__)


class AiogramCheckinSender:
    def __init__(self, bot: Bot) -> None:
        self._bot = bot

    async def send(self, user_id: int, text: str) -> SendOutcome:
        try:
            # The bot's default parse mode is HTML: the persona's text is plain.
            await self._bot.send_message(chat_id=user_id, text=escape(text))
        except TelegramForbiddenError:
            return SendOutcome.BLOCKED
        except TelegramNetworkError:
            raise
        except TelegramAPIError as exc:
            log.warning("check-in not delivered: %s", type(exc).__name__)
            return SendOutcome.FAILED
        return SendOutcome.SENT
