"""A trace id per update, one log line per update, and a count of updates still in flight.

The count lets a shutting-down worker finish the replies it started (`InFlight.drain`).
An update with no event type aiogram knows (a newer Bot API, or an empty one) stops here:
aiogram would otherwise warn with the whole update, the person's text included.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware
from aiogram.dispatcher.event.bases import UNHANDLED
from aiogram.types import TelegramObject, Update
from aiogram.types.update import UpdateTypeLookupError

from companion.bot.bad_updates import UNKNOWN_TYPE, count_in
from companion.metrics import Metrics

log = logging.getLogger("companion.bot.updates")


class InFlight:
    def __init__(self) -> None:
        self._count = 0
        self._idle = asyncio.Event()
        self._idle.set()

    @property
    def count(self) -> int:
        return self._count

    def enter(self) -> None:
        self._count += 1
        self._idle.clear()

    def leave(self) -> None:
        self._count -= 1
        if self._count == 0:
            self._idle.set()

    async def drain(self, timeout_s: float) -> bool:
        """Wait until no update is being handled; False if some were still running."""
        try:
            await asyncio.wait_for(self._idle.wait(), timeout_s)
        except TimeoutError:
            log.warning("shutdown: %d update(s) still running after %.0fs", self._count, timeout_s)
            return False
        return True


class TracingMiddleware(BaseMiddleware):
    def __init__(self, inflight: InFlight) -> None:
        self._inflight = inflight

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        trace_id = uuid.uuid4().hex[:16]
        data["trace_id"] = trace_id
        update_id = event.update_id if isinstance(event, Update) else None
        try:
            kind = event.event_type if isinstance(event, Update) else type(event).__name__
        except UpdateTypeLookupError:
            count_in(data, UNKNOWN_TYPE)
            fields = sorted(event.model_extra or {}) if isinstance(event, Update) else []
            # Only the names of the fields: their values may be what someone wrote.
            log.info(
                "update %s ignored: no known event type (fields: %s)",
                update_id,
                ", ".join(name[:32] for name in fields[:5]) or "none",
                extra={"trace_id": trace_id, "update_id": update_id},
            )
            return UNHANDLED
        user = data.get("event_from_user")
        extra = {
            "trace_id": trace_id,
            "update_id": update_id,
            "update_type": kind,
            "user_id": user.id if user else None,
        }
        started = time.perf_counter()
        self._inflight.enter()
        metrics: Metrics | None = data.get("metrics")
        if metrics is not None:
            metrics.update(kind)
            metrics.in_flight.inc()
        try:
            result = await handler(event, data)
        finally:
            self._inflight.leave()
            if metrics is not None:
                metrics.in_flight.dec()
            extra["duration_ms"] = round((time.perf_counter() - started) * 1000, 1)
            log.info("update %s %s handled", update_id, kind, extra=extra)
        return result
