"""Showing a reply in Telegram while it is generated.

Private chats get message drafts (``sendMessageDraft``, Bot API 9.3+): the growing text is shown
as an animated draft, then sent as a real message at the end. Where drafts are unavailable (an
older Bot API server, a group chat, or ``telegram.use_drafts=false``) the bot sends a message
and edits it as text arrives, at most once per ``edit_interval_s`` per chat.

Sending runs in one background "pump" task per reply, so a slow or rate-limited Telegram never
slows down reading the model's stream: the pump always shows the newest text and skips the
steps in between. A 429 answer pauses the pump for ``retry_after`` seconds. Text longer than
one message is committed as finished messages at a paragraph or sentence boundary and the
stream goes on in a new one.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import TypeVar

from aiogram import Bot
from aiogram.enums import ParseMode
from aiogram.exceptions import (
    TelegramBadRequest,
    TelegramNotFound,
    TelegramRetryAfter,
)
from aiogram.types import Message

from companion.bot.texts import TELEGRAM_TEXT_LIMIT, escape, split_message, utf16_len

log = logging.getLogger(__name__)

T = TypeVar("T")

# Shown after the text while it is still being written (edit mode only).
CURSOR = " ▍"
# Keep a little room under the limit for the cursor.
_SEGMENT_LIMIT = TELEGRAM_TEXT_LIMIT - 8
_FINAL_ATTEMPTS = 5


class StreamMode(StrEnum):
    DRAFT = "draft"
    EDIT = "edit"


@dataclass(slots=True)
class StreamingPolicy:
    """Shared by every reply of one process; `drafts_available` flips off when the Bot API
    server does not know sendMessageDraft (a capability, not per-user state)."""

    use_drafts: bool = True
    draft_interval_s: float = 0.3
    edit_interval_s: float = 1.0
    # The longest retry_after the bot waits for when sending a finished message.
    max_retry_after_s: float = 60.0
    drafts_available: bool = True


class ReplyStream:
    def __init__(
        self,
        bot: Bot,
        chat_id: int,
        *,
        private: bool,
        policy: StreamingPolicy,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._bot = bot
        self._chat_id = chat_id
        self._policy = policy
        self._sleep = sleep
        self.mode = (
            StreamMode.DRAFT
            if private and policy.use_drafts and policy.drafts_available
            else StreamMode.EDIT
        )
        self._draft_id = secrets.randbelow(2**31 - 2) + 1
        self._streamed = ""
        self._committed_upto = 0  # index into _streamed: text before it is sent for good
        self._preview_id: int | None = None  # edit mode: the message being edited
        self._preview_text: str | None = None
        self._last_send_at = 0.0
        self._not_before = 0.0  # monotonic time before which Telegram asked us not to call
        self._dirty = asyncio.Event()
        self._closing = False
        self._closed = asyncio.Event()
        self._pump: asyncio.Task[None] | None = None
        self.sent: list[Message] = []

    @property
    def started(self) -> bool:
        return bool(self._streamed)

    @property
    def text(self) -> str:
        return self._streamed

    def push(self, delta: str) -> None:
        """Add generated text; the pump shows it as soon as the rate allows."""
        if not delta:
            return
        self._streamed += delta
        self._dirty.set()
        if self._pump is None:
            self._pump = asyncio.create_task(self._run_pump(), name=f"reply-pump-{self._chat_id}")

    async def finish(self, final_text: str | None = None) -> list[Message]:
        """Send the finished reply; `final_text` (the stored reply) is used when nothing was
        committed yet. Returns every message that now holds the reply."""
        await self._stop_pump()
        if self._committed_upto == 0 and final_text and final_text.strip():
            rest = final_text
        else:
            rest = self._streamed[self._committed_upto :]
        parts = split_message(rest)
        if self.mode is StreamMode.EDIT and self._preview_id is not None:
            if not parts:
                await self._delete_preview()
                return self.sent
            await self._wait_for_rate(self._policy.edit_interval_s)
            await self._edit_final(self._preview_id, parts[0])
            parts = parts[1:]
        for part in parts:
            await self._send_final(part)
        return self.sent

    async def abort(self) -> None:
        """The reply failed: stop showing it; an edit-mode preview of a half reply is removed."""
        await self._stop_pump()
        if self.mode is StreamMode.EDIT and self._preview_id is not None:
            await self._delete_preview()

    # ------------------------------------------------------------------ the pump

    async def _stop_pump(self) -> None:
        self._closing = True
        self._closed.set()
        self._dirty.set()
        if self._pump is not None:
            try:
                await self._pump
            except Exception:  # the pump logs its own failures; finishing must still work
                log.exception("reply pump failed for chat %s", self._chat_id)
            self._pump = None

    async def _run_pump(self) -> None:
        while True:
            await self._dirty.wait()
            if self._closing:
                return
            self._dirty.clear()
            await self._commit_full_segments()
            if self._closing:
                return
            await self._show_preview()
            interval = (
                self._policy.draft_interval_s
                if self.mode is StreamMode.DRAFT
                else self._policy.edit_interval_s
            )
            pause = max(self._not_before, self._last_send_at + interval) - time.monotonic()
            if pause > 0:
                await self._interruptible_sleep(pause)

    async def _interruptible_sleep(self, seconds: float) -> None:
        """Sleep, but wake early when the reply is finished (finish respects the rate itself)."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._closed.wait(), seconds)

    async def _commit_full_segments(self) -> None:
        while True:
            current = self._streamed[self._committed_upto :]
            if utf16_len(current) <= _SEGMENT_LIMIT:
                return
            head = split_message(current, _SEGMENT_LIMIT)[0]
            cut = current.find(head) + len(head)
            if self.mode is StreamMode.EDIT and self._preview_id is not None:
                await self._wait_for_rate(self._policy.edit_interval_s)
                await self._edit_final(self._preview_id, head)
                self._preview_id, self._preview_text = None, None
            else:
                await self._send_final(head)
            self._committed_upto += cut

    async def _show_preview(self) -> None:
        current = self._streamed[self._committed_upto :].strip()
        if not current:
            return
        if time.monotonic() < self._not_before:
            self._dirty.set()  # try again once the pause is over
            return
        try:
            if self.mode is StreamMode.DRAFT:
                await self._bot.send_message_draft(
                    chat_id=self._chat_id,
                    draft_id=self._draft_id,
                    text=escape(current),
                    parse_mode=ParseMode.HTML,
                )
            else:
                await self._show_edit_preview(escape(current) + CURSOR)
        except TelegramRetryAfter as exc:
            self._not_before = time.monotonic() + exc.retry_after
            self._dirty.set()
            log.info("chat %s: flood control, retry after %ss", self._chat_id, exc.retry_after)
        except TelegramNotFound:
            if self.mode is StreamMode.DRAFT:
                # The Bot API server predates drafts: edits from now on, in every chat.
                log.warning("sendMessageDraft is not available; streaming with edits")
                self._policy.drafts_available = False
                self.mode = StreamMode.EDIT
                self._dirty.set()
            else:
                raise
        except TelegramBadRequest as exc:
            if self.mode is StreamMode.DRAFT:
                log.info("chat %s: draft refused (%s); streaming with edits", self._chat_id, exc)
                self.mode = StreamMode.EDIT
                self._dirty.set()
            elif "not modified" in exc.message:
                pass
            elif "message to edit not found" in exc.message:
                self._preview_id, self._preview_text = None, None  # deleted by the user
                self._dirty.set()
            else:
                raise
        finally:
            self._last_send_at = time.monotonic()

    async def _show_edit_preview(self, text: str) -> None:
        if text == self._preview_text:
            return
        if self._preview_id is None:
            message = await self._bot.send_message(self._chat_id, text, parse_mode=ParseMode.HTML)
            self._preview_id = message.message_id
        else:
            await self._bot.edit_message_text(
                text=text,
                chat_id=self._chat_id,
                message_id=self._preview_id,
                parse_mode=ParseMode.HTML,
            )
        self._preview_text = text

    # ------------------------------------------------------------------ final sends

    async def _wait_for_rate(self, interval: float) -> None:
        wait = max(self._not_before, self._last_send_at + interval) - time.monotonic()
        if wait > 0:
            await self._sleep(wait)

    async def _final(
        self, call: Callable[[], Awaitable[T]], *, ignore_not_modified: bool = False
    ) -> T | None:
        """A send that must happen: retried after flood control, up to a point."""
        for attempt in range(_FINAL_ATTEMPTS):
            wait = self._not_before - time.monotonic()
            if wait > 0:
                await self._sleep(wait)
            try:
                result = await call()
                self._last_send_at = time.monotonic()
                return result
            except TelegramRetryAfter as exc:
                if exc.retry_after > self._policy.max_retry_after_s or (
                    attempt == _FINAL_ATTEMPTS - 1
                ):
                    raise
                self._not_before = time.monotonic() + exc.retry_after
            except TelegramBadRequest as exc:
                if ignore_not_modified and "not modified" in exc.message:
                    return None
                raise
        return None

    async def _send_final(self, text: str) -> None:
        message = await self._final(
            functools.partial(
                self._bot.send_message, self._chat_id, escape(text), parse_mode=ParseMode.HTML
            )
        )
        if isinstance(message, Message):
            self.sent.append(message)

    async def _edit_final(self, message_id: int, text: str) -> None:
        edited = await self._final(
            functools.partial(
                self._bot.edit_message_text,
                text=escape(text),
                chat_id=self._chat_id,
                message_id=message_id,
                parse_mode=ParseMode.HTML,
            ),
            ignore_not_modified=True,
        )
        if isinstance(edited, Message):
            self.sent.append(edited)

    async def _delete_preview(self) -> None:
        if self._preview_id is None:
            return
        with contextlib.suppress(TelegramBadRequest, TelegramNotFound):
            await self._final(
                functools.partial(self._bot.delete_message, self._chat_id, self._preview_id)
            )
        self._preview_id, self._preview_text = None, None
