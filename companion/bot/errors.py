"""The central error handler: log with the update id, answer politely, never show a trace.

An update that failed because a dependency is down (database, Redis, the model before any text)
is deferred for another try instead (`companion.bot.delivery`): the user gets an apology only
when it is given up.
"""

from __future__ import annotations

import contextlib
import logging
from typing import Any

from aiogram import Bot
from aiogram.exceptions import TelegramForbiddenError, TelegramRetryAfter
from aiogram.types import ErrorEvent

from companion.bot.bad_updates import STALE_CALLBACK, benign_reason, count_in
from companion.bot.delivery import ATTEMPT, SINCE, UpdateDelivery
from companion.bot.failures import is_infrastructure_failure
from companion.bot.localization import I18n, language_from_telegram
from companion.i18n import Translator
from companion.metrics import Metrics

log = logging.getLogger("companion.bot.errors")


async def on_error(event: ErrorEvent, bot: Bot, **data: Any) -> bool:
    update = event.update
    extra = {"update_id": update.update_id, "trace_id": data.get("trace_id")}
    if isinstance(event.exception, TelegramRetryAfter):
        # Telegram asked us to slow down in this chat: an apology now would be refused too.
        log.warning(
            "update %s: flood control, retry after %ss",
            update.update_id,
            event.exception.retry_after,
            extra=extra,
        )
        return True
    if isinstance(event.exception, TelegramForbiddenError):
        # The user blocked the bot: nothing to answer, nothing to worry about.
        log.info("update %s: %s", update.update_id, event.exception.message, extra=extra)
        return True
    reason = benign_reason(event.exception)
    if reason is not None:
        # A stale or double-tapped button: the message already shows what the edit wanted, or
        # the press is too old to answer. Nothing failed; see companion.bot.bad_updates.
        count_in(data, reason)
        log.info("update %s: %s (ignored)", update.update_id, reason, extra=extra)
        if reason != STALE_CALLBACK and update.callback_query is not None:
            with contextlib.suppress(Exception):  # stops the spinner if the handler had not
                await update.callback_query.answer()
        return True
    metrics: Metrics | None = data.get("metrics")
    if await _deferred(event, data, extra):
        if metrics is not None:
            metrics.error("deferred")
        return True
    if metrics is not None:
        metrics.error("update")
    log.error(
        "update %s failed: %s",
        update.update_id,
        type(event.exception).__name__,
        exc_info=event.exception,
        extra=extra,
    )
    chat_id: int | None = None
    if update.message is not None and update.message.chat.type == "private":
        chat_id = update.message.chat.id
    elif update.callback_query is not None:
        with contextlib.suppress(Exception):
            await update.callback_query.answer()
        message = update.callback_query.message
        if message is not None and message.chat.type == "private":
            chat_id = message.chat.id
    if chat_id is None:
        return True
    i18n: I18n | None = data.get("i18n")
    if i18n is None:
        translator: Translator = data["translator"]
        sender = data.get("event_from_user")
        language = language_from_telegram(
            sender.language_code if sender else None, data.get("default_language", "ru")
        )
        i18n = I18n(translator, language)
    try:
        await bot.send_message(chat_id, i18n("error-generic"))
    except Exception:  # the apology itself failed (Telegram down, user blocked): only log
        log.warning("could not tell chat %s about the error", chat_id, extra=extra)
    return True


async def _deferred(event: ErrorEvent, data: dict[str, Any], extra: dict[str, Any]) -> bool:
    """Queue the update for another try when a dependency failed; True when it was queued."""
    delivery: UpdateDelivery | None = data.get("delivery")
    if delivery is None or not is_infrastructure_failure(event.exception):
        return False
    attempt = int(data.get(ATTEMPT) or 0) + 1
    since = data.get(SINCE)
    if not await delivery.defer(event.update, attempt=attempt, since=since):
        return False
    log.warning(
        "update %s deferred (attempt %d): %s",
        event.update.update_id,
        attempt,
        type(event.exception).__name__,
        extra=extra,
    )
    return True
