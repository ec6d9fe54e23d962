"""Updates the bot cannot or need not handle, and Telegram answers that only look like errors.

Each such case is counted in ``companion_bad_updates_total{reason}`` and logged with ids and
error types only, never with what the person wrote:

- ``bad_secret``: a webhook request without the right secret header (answered 401);
- ``invalid_update``: JSON that fails aiogram's schema (answered 200, or Telegram would send it
  again forever);
- ``unknown_type``: an update with no event type this aiogram knows (or none at all);
- ``no_user``: an update without a person behind it (channel posts, anonymous group admins,
  other bots), except group messages, which group handlers answer without a profile;
- ``invalid_update`` also counts a sender whose id no Telegram user can have;
- ``not_modified``: an edit that changes nothing (a stale or double-tapped button);
- ``stale_callback``: a button press answered too late for Telegram to accept the answer;
- ``stale_button``: a press whose message can no longer take the edit it asks for (too old to
  edit, gone, or not the kind of message the button belongs to: button data can be forged).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Mapping
from typing import Any, TypeVar

from aiogram.exceptions import TelegramBadRequest
from pydantic import ValidationError

log = logging.getLogger("companion.bot.bad_updates")

BAD_SECRET = "bad_secret"
INVALID_UPDATE = "invalid_update"
UNKNOWN_TYPE = "unknown_type"
NO_USER = "no_user"
NOT_MODIFIED = "not_modified"
STALE_CALLBACK = "stale_callback"
STALE_BUTTON = "stale_button"
# A message over the flood limit (companion.bot.middlewares.throttling).
THROTTLED = "throttled"

_STALE_BUTTON_ERRORS = (
    "message can't be edited",
    "message to edit not found",
    "there is no text in the message to edit",
    "there is no caption in the message to edit",
    "there is no media in the message to edit",
)

T = TypeVar("T")


def count(metrics: object, reason: str) -> None:
    """Count one bad update; ``metrics`` is `companion.metrics.Metrics` (or None in tools)."""
    counter = getattr(metrics, "bad_updates", None)
    if counter is not None:
        counter.labels(reason=reason).inc()


def count_in(data: Mapping[str, Any], reason: str) -> None:
    """`count` with the metrics from aiogram's handler data."""
    count(data.get("metrics"), reason)


def benign_reason(exc: BaseException) -> str | None:
    """The reason when a Telegram error means "nothing to do" rather than a failure."""
    if not isinstance(exc, TelegramBadRequest):
        return None
    message = exc.message.lower()
    if "message is not modified" in message:
        return NOT_MODIFIED
    if "query is too old" in message or "query id is invalid" in message:
        return STALE_CALLBACK
    if any(text in message for text in _STALE_BUTTON_ERRORS):
        return STALE_BUTTON
    return None


async def quietly(call: Awaitable[T], metrics: object = None) -> T | None:
    """Await an edit (or a callback answer); "not modified", "query is too old" and edits the
    message cannot take are success: it already shows what we wanted, or the press is stale."""
    try:
        return await call
    except TelegramBadRequest as exc:
        reason = benign_reason(exc)
        if reason is None:
            raise
        count(metrics, reason)
        log.debug("Telegram: %s (ignored)", reason)
        return None


def schema_errors(exc: ValidationError, limit: int = 5) -> str:
    """``type at field.path`` for each error, without the values (they may be the user's text)."""
    parts = [
        f"{error['type']} at {'.'.join(str(part) for part in error['loc']) or 'update'}"
        for error in exc.errors(include_url=False, include_input=False, include_context=False)
    ]
    more = f" (+{len(parts) - limit} more)" if len(parts) > limit else ""
    return "; ".join(parts[:limit]) + more


def invalid_update(update: object, exc: ValidationError, metrics: object) -> None:
    """Log and count an update that does not fit aiogram's schema (ids and field paths only)."""
    count(metrics, INVALID_UPDATE)
    update_id = update.get("update_id") if isinstance(update, dict) else None
    log.warning(
        "update %s ignored: does not fit the Bot API schema (%s)",
        update_id if isinstance(update_id, int) else "?",
        schema_errors(exc),
        extra={"update_id": update_id if isinstance(update_id, int) else None},
    )
