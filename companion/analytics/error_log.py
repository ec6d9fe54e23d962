"""Error counts by kind for the last hour and day, for the owner's console (issue 17).

Every worker adds its failures to the same Redis hashes, one per five-minute bucket
(``{prefix}:admin:errors:{bucket}``, field = kind, kept two days), so the console shows the
whole deployment, and a window is the sum of its buckets (the oldest one may be partial: the
hour is 60-65 minutes).

Two sources feed it, wired by `companion.app.build_app`:

- `Metrics` failures, where they are handled: ``update`` (a handler raised; the user got the
  apology), ``deferred`` (a store or the model was down; the update is retried) and
  ``reply_failed`` (the model failed mid-reply);
- `ErrorLogHandler`: every ERROR log record of ours elsewhere (billing jobs, payments, memory,
  speech...), as ``log:<module>`` or ``log:<module>:<exception>``.

Counting never blocks the caller and never fails it: `note` only schedules the write, and a
write that fails (Redis down) is dropped with a debug line.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

from redis.asyncio import Redis

log = logging.getLogger(__name__)

BUCKET_S = 300
HOUR_S = 3600
DAY_S = 86400
_KEEP_S = 2 * DAY_S
# Writes waiting at once; past this a burst of errors is counted in part, never queued forever.
_MAX_PENDING = 256
# The error handler's own line is counted as "update" through Metrics already.
_COUNTED_ELSEWHERE = frozenset({"companion.bot.errors", __name__})


class ErrorLog:
    def __init__(
        self, redis: Redis, *, prefix: str, clock: Callable[[], float] = time.time
    ) -> None:
        self._redis = redis
        self._prefix = prefix
        self._clock = clock
        # The loop that writes; learned here when built on it, else at the first note on it.
        self._loop: asyncio.AbstractEventLoop | None = None
        with contextlib.suppress(RuntimeError):
            self._loop = asyncio.get_running_loop()
        self._pending: set[asyncio.Task[None]] = set()

    def _key(self, bucket: int) -> str:
        return f"{self._prefix}:admin:errors:{bucket}"

    async def record(self, kind: str, count: int = 1) -> None:
        bucket = int(self._clock()) // BUCKET_S
        key = self._key(bucket)
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.hincrby(key, kind, count)
            pipe.expire(key, _KEEP_S)
            await pipe.execute()

    def note(self, kind: str) -> None:
        """Count one failure of `kind` soon; callable from any thread, never raises."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # a worker thread (speech) or no loop: hand it to ours
            if self._loop is not None and not self._loop.is_closed():
                self._loop.call_soon_threadsafe(self._spawn, kind)
            return
        self._loop = loop
        self._spawn(kind)

    def _spawn(self, kind: str) -> None:
        if len(self._pending) >= _MAX_PENDING:
            return
        task = asyncio.get_running_loop().create_task(self._write(kind))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _write(self, kind: str) -> None:
        try:
            await self.record(kind)
        except Exception as exc:  # counting must never become an error of its own
            log.debug("could not count error %s: %s", kind, exc)

    async def flush(self) -> None:
        """Wait for the writes scheduled so far (tests, shutdown)."""
        while self._pending:
            await asyncio.gather(*list(self._pending), return_exceptions=True)

    async def counts(self, window_s: int) -> dict[str, int]:
        """Failures by kind over the last `window_s` seconds, most frequent first."""
        now = int(self._clock()) // BUCKET_S
        first = (int(self._clock()) - window_s) // BUCKET_S
        async with self._redis.pipeline(transaction=False) as pipe:
            for bucket in range(first, now + 1):
                pipe.hgetall(self._key(bucket))
            buckets: list[dict[Any, Any]] = await pipe.execute()
        total: Counter[str] = Counter()
        for bucket_counts in buckets:
            for kind, value in bucket_counts.items():
                name = kind.decode() if isinstance(kind, bytes) else str(kind)
                total[name] += int(value)
        return dict(total.most_common())


class ErrorLogHandler(logging.Handler):
    """Counts ERROR records of ``companion.*`` loggers into an `ErrorLog`."""

    def __init__(self, errors: ErrorLog) -> None:
        super().__init__(level=logging.ERROR)
        self._errors = errors

    def emit(self, record: logging.LogRecord) -> None:
        name = record.name
        if not name.startswith("companion.") or name in _COUNTED_ELSEWHERE:
            return
        kind = f"log:{name.removeprefix('companion.')}"
        if record.exc_info and record.exc_info[0] is not None:
            kind += f":{record.exc_info[0].__name__}"
        self._errors.note(kind)
