"""The broadcast service's Telegram ports over an aiogram Bot (`companion.broadcasts.ports`).

- `AiogramBroadcastSender`: one campaign message to one person, with the campaign's URL
  buttons and a "turn off news" button in the person's language; Telegram's answers become
  `Delivery` outcomes (Bot API: 429 carries ``retry_after``; 403 "bot was blocked by the user",
  "user is deactivated" and "bot can't initiate conversation" mean nobody is there to read it;
  400 "chat not found" and other refusals fail that one message; no answer at all may have
  been delivered, so it is unconfirmed, never retried).
- `BotBroadcastProgress`: the admin's progress message, edited in place, then the report.
"""

from __future__ import annotations

import logging

from aiogram import Bot
from aiogram.exceptions import (
    TelegramAPIError,
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramNetworkError,
    TelegramRetryAfter,
)
from aiogram.filters.callback_data import CallbackData
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup

from companion.bot.localization import I18n
from companion.bot.routers.news import news_button
from companion.broadcasts.models import Campaign, Content, Delivery, Outcome, Report
from companion.i18n import Translator

log = logging.getLogger(__name__)


class BroadcastCb(CallbackData, prefix="bc"):
    """The admin's broadcast screens (`companion.bot.routers.admin.broadcast`): ``action``
    nobuttons | seg | send | segments | cancel | stop; the segment as ``kind`` and ``value``."""

    action: str
    campaign: str = ""
    kind: str = ""
    value: str = ""


def stop_markup(campaign_id: str, i18n: I18n) -> InlineKeyboardMarkup:
    """The admin's progress message keeps a Stop button until the report replaces it."""
    stop = BroadcastCb(action="stop", campaign=campaign_id).pack()
    return InlineKeyboardMarkup(
        inline_keyboard=[[InlineKeyboardButton(text=i18n("broadcast-stop"), callback_data=stop)]]
    )


def campaign_markup(content: Content, i18n: I18n) -> InlineKeyboardMarkup:
    rows = [[InlineKeyboardButton(text=b.text, url=b.url)] for b in content.buttons]
    rows.append([news_button(i18n, on=False)])
    return InlineKeyboardMarkup(inline_keyboard=rows)


class AiogramBroadcastSender:
    """Implements `companion.broadcasts.ports.BroadcastSender`."""

    def __init__(self, bot: Bot, translator: Translator) -> None:
        self._bot = bot
        self._translator = translator

    async def send(self, user_id: int, language: str, content: Content) -> Delivery:
        markup = campaign_markup(content, I18n(self._translator, language))
        try:
            if content.photo:
                await self._bot.send_photo(
                    user_id, content.photo, caption=content.text or None, reply_markup=markup
                )
            else:
                await self._bot.send_message(user_id, content.text, reply_markup=markup)
        except TelegramRetryAfter as exc:
            return Delivery(outcome=Outcome.RETRY, retry_after=exc.retry_after, detail="429")
        except TelegramForbiddenError as exc:
            return Delivery(outcome=Outcome.BLOCKED, detail=exc.message)
        except TelegramNetworkError as exc:
            return Delivery(outcome=Outcome.UNCONFIRMED, detail=type(exc).__name__)
        except TelegramAPIError as exc:  # 400 chat not found, bad markup, 5xx...
            return Delivery(outcome=Outcome.FAILED, detail=exc.message)
        return Delivery(outcome=Outcome.SENT)


class BotBroadcastProgress:
    """Implements `companion.broadcasts.ports.BroadcastProgress`."""

    def __init__(self, bot: Bot, translator: Translator) -> None:
        self._bot = bot
        self._translator = translator

    async def progress(self, campaign: Campaign, report: Report) -> None:
        i18n = I18n(self._translator, campaign.admin_language)
        text = i18n("broadcast-progress", **_numbers(report))
        await self._edit(campaign, text, stop_markup(campaign.id, i18n))

    async def finished(self, campaign: Campaign, report: Report) -> None:
        i18n = I18n(self._translator, campaign.admin_language)
        key = f"broadcast-report-{campaign.status.value}"
        text = i18n(key, **_numbers(report))
        await self._edit(campaign, text, None)
        if campaign.progress_chat_id is not None:
            # A new message as well: the admin gets a notification when it is over.
            await self._bot.send_message(campaign.progress_chat_id, text)

    async def _edit(
        self, campaign: Campaign, text: str, markup: InlineKeyboardMarkup | None
    ) -> None:
        if campaign.progress_chat_id is None or campaign.progress_message_id is None:
            return
        try:
            await self._bot.edit_message_text(
                text=text,
                chat_id=campaign.progress_chat_id,
                message_id=campaign.progress_message_id,
                reply_markup=markup,
            )
        except TelegramBadRequest as exc:
            if "not modified" not in exc.message:
                log.warning("broadcast %s: progress not edited (%s)", campaign.id, exc.message)


def _numbers(report: Report) -> dict[str, int]:
    return {
        "total": report.total,
        "done": report.processed,
        "sent": report.sent,
        "blocked": report.blocked,
        "failed": report.failed,
        "unconfirmed": report.unconfirmed,
        "skipped": report.skipped,
        "pending": report.pending + report.claimed,
    }
