"""Every update is handled once, and none is lost when the database, Redis or the model is down.

Telegram redelivers a webhook update only when the answer is an error; polling confirms updates
by offset before they are handled. So, in both modes:

- **Once.** An update is claimed by its id before it is handled (``SET NX`` with a day's TTL,
  the one extra Redis round trip of the normal path): a redelivered or re-polled duplicate is
  dropped. The webhook claims before it answers 200; when Redis cannot be reached it answers
  503 instead, so Telegram keeps the update and sends it again.
- **Not lost.** An update whose handling failed for an infrastructure reason (see
  `is_infrastructure_failure`) is put in a retry queue in Redis (a sorted set scored by when
  it is due) and handled again with backoff, by whichever worker polls it first; the user gets
  no apology for it. If Redis is down too, the worker keeps it in memory and retries it itself
  (the one case a crash of that worker loses it). A non-payment update that still fails after
  `retry_window_s` gets the apology and is dropped; a payment is retried until it is recorded.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiogram import BaseMiddleware
from aiogram.types import TelegramObject, Update
from pymongo.errors import ConnectionFailure
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from companion.llm.base import LLMUnavailableError
from companion.shutdown import CANCEL_GRACE_S, finish_or_abandon
from companion.storage.database import DatabaseUnavailableError

log = logging.getLogger(__name__)

# Handed to `Dispatcher.feed_raw_update` (they reach middlewares and the error handler in
# `data`): the update was claimed already / how many times it failed / since when.
CLAIMED = "delivery_claimed"
ATTEMPT = "delivery_attempt"
SINCE = "delivery_since"


class RetryUpdateLater(Exception):  # noqa: N818 - it is a request, not an error
    """Raise (``from`` the cause) in a handler that cannot finish now for a reason that will
    pass (e.g. a payment that could not be recorded): the update is handled again later."""


_TRANSIENT: tuple[type[BaseException], ...] = (
    RetryUpdateLater,
    ConnectionFailure,  # pymongo: server selection timeout, network errors, pool timeouts
    DatabaseUnavailableError,
    RedisConnectionError,  # includes BusyLoadingError (a Redis loading its data after a start)
    RedisTimeoutError,
    LLMUnavailableError,  # the model could not be reached before any text was produced
)


def is_infrastructure_failure(exc: BaseException) -> bool:
    """Whether `exc` (or what caused it) is a dependency being down, not a bug or bad input."""
    seen = 0
    current: BaseException | None = exc
    while current is not None and seen < 8:
        if isinstance(current, _TRANSIENT):
            return True
        current = current.__cause__ or current.__context__
        seen += 1
    return False


def is_payment(update: Update) -> bool:
    message = update.message
    return message is not None and (
        message.successful_payment is not None or message.refunded_payment is not None
    )


@dataclass(slots=True)
class _Item:
    update: dict[str, Any]
    attempt: int
    since: float

    def dump(self) -> str:
        return json.dumps({"u": self.update, "a": self.attempt, "s": self.since})

    @classmethod
    def load(cls, raw: str | bytes) -> _Item:
        data = json.loads(raw)
        return cls(update=data["u"], attempt=int(data["a"]), since=float(data["s"]))


class UpdateDelivery:
    """The claim, the retry queue and its consumer; one per dispatcher (see the module doc)."""

    def __init__(
        self,
        redis: Redis,
        *,
        prefix: str,
        dedupe_ttl_s: int = 24 * 3600,
        retry_window_s: float = 15 * 60,
        lease_s: float = 120.0,
        poll_s: float = 0.5,
        concurrency: int = 8,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._redis = redis
        self._prefix = prefix
        self._queue_key = f"{prefix}:bot:updates:retry"
        self._dedupe_ttl_s = dedupe_ttl_s
        self.retry_window_s = retry_window_s
        self._lease_s = lease_s
        self._poll_s = poll_s
        self._slots = asyncio.Semaphore(max(1, concurrency))
        self._concurrency = max(1, concurrency)
        self._clock = clock
        self._take_due = redis.register_script(_TAKE_DUE)
        self._release_abandoned = redis.register_script(_DELETE_IF_OURS)
        # Claims whose answer was lost (Redis down or stalled mid-command): the SET may still
        # land later, so a redelivery that finds this token must not count as a duplicate.
        self._abandoned: dict[int, str] = {}
        # Deferred updates that could not be put in Redis: retried from here.
        self._local: list[tuple[float, _Item]] = []
        self._consumer: asyncio.Task[None] | None = None
        self._running: set[asyncio.Task[None]] = set()

    def _claim_key(self, update_id: int) -> str:
        return f"{self._prefix}:bot:update:{update_id}"

    # -- once ----------------------------------------------------------------------------

    async def claim(self, update_id: int) -> bool:
        """True when this update is new (handle it), False for a duplicate; raises RedisError
        when Redis cannot say (the caller must not acknowledge the update then)."""
        key = self._claim_key(update_id)
        token = self._abandoned.get(update_id) or secrets.token_hex(8)
        try:
            if await self._redis.set(key, token, nx=True, ex=self._dedupe_ttl_s):
                self._abandoned.pop(update_id, None)
                return True
            if update_id in self._abandoned:
                # Our own earlier claim whose answer was lost: it is ours to handle.
                owner = await self._redis.get(key)
                if owner in (token, token.encode()):
                    del self._abandoned[update_id]
                    return True
        except RedisError:
            if len(self._abandoned) < 10_000:
                self._abandoned[update_id] = token
            raise
        return False

    # -- not lost ------------------------------------------------------------------------

    async def defer(self, update: Update, *, attempt: int, since: float | None) -> bool:
        """Queue `update` for another try after its `attempt`-th failure; False when it is
        given up (the caller tells the user then)."""
        now = self._clock()
        since = since if since is not None else now
        payment = is_payment(update)
        overdue = now - since > self.retry_window_s
        if overdue and not payment:
            log.error(
                "update %s given up after %d attempts in %.0f s",
                update.update_id,
                attempt,
                now - since,
            )
            return False
        item = _Item(
            update.model_dump(mode="json", exclude_unset=True, by_alias=True), attempt, since
        )
        delay = min(60.0 if overdue else 5.0, 0.5 * 2 ** max(0, attempt - 1))
        try:
            await self._redis.zadd(self._queue_key, {item.dump(): now + delay})
        except RedisError as exc:
            log.warning(
                "update %s kept in this worker for a retry (Redis: %s)",
                update.update_id,
                type(exc).__name__,
            )
            self._local.append((now + delay, item))
        return True

    async def queued(self) -> int:
        """Deferred updates waiting in the shared retry queue (every worker's)."""
        return int(await self._redis.zcard(self._queue_key))

    @property
    def pending_here(self) -> int:
        """Deferred updates only this worker holds (Redis was down when they failed)."""
        return len(self._local)

    # -- the consumer --------------------------------------------------------------------

    async def start(self, feed: Callable[..., Awaitable[Any]]) -> None:
        """Start retrying queued updates through `feed` (``dispatcher.feed_raw_update`` with
        the bot bound)."""
        if self._consumer is None:
            self._consumer = asyncio.create_task(self._consume(feed), name="update-retries")

    async def stop(self, timeout_s: float = 10.0) -> None:
        """Stop the consumer, give the retries under way `timeout_s` to finish (the rest are
        cancelled: their queue entries come due again when the lease ends) and put what only
        this worker holds into Redis. Bounded throughout: a shutdown never hangs here."""
        consumer, self._consumer = self._consumer, None
        if consumer is not None:
            consumer.cancel()
            await finish_or_abandon([consumer], CANCEL_GRACE_S, what="update retry consumer")
        await finish_or_abandon(self._running, timeout_s, what="update retries")
        await self._save_local(timeout_s)

    async def _consume(self, feed: Callable[..., Awaitable[Any]]) -> None:
        while True:
            await asyncio.sleep(self._poll_s)
            try:
                await self._tick(feed)
            except asyncio.CancelledError:
                raise
            except Exception:  # the loop must outlive any one bad round
                log.exception("update retry round failed")

    async def _tick(self, feed: Callable[..., Awaitable[Any]]) -> None:
        now = self._clock()
        due = [item for at, item in self._local if at <= now]
        if due:
            self._local = [(at, item) for at, item in self._local if at > now]
            for item in due:
                await self._spawn(feed, item, None)
        await self._forget_abandoned()
        free = self._concurrency - len(self._running)
        if free <= 0:
            return
        try:
            raw_items = await self._take_due(
                keys=[self._queue_key], args=[now, now + self._lease_s, free]
            )
        except RedisError:
            return
        for raw in raw_items:
            try:
                item = _Item.load(raw)
            except (ValueError, KeyError, TypeError):
                log.error("dropping an unreadable entry of the update retry queue")
                with contextlib.suppress(RedisError):
                    await self._redis.zrem(self._queue_key, raw)
                continue
            await self._spawn(feed, item, raw)

    async def _spawn(
        self, feed: Callable[..., Awaitable[Any]], item: _Item, raw: str | bytes | None
    ) -> None:
        await self._slots.acquire()
        task = asyncio.create_task(self._retry(feed, item, raw))
        self._running.add(task)
        task.add_done_callback(self._running.discard)

    async def _retry(
        self, feed: Callable[..., Awaitable[Any]], item: _Item, raw: str | bytes | None
    ) -> None:
        try:
            log.info(
                "retrying update %s (attempt %d)", item.update.get("update_id"), item.attempt + 1
            )
            # A failure now is deferred again by the error handler, as a new queue entry.
            await feed(item.update, **{CLAIMED: True, ATTEMPT: item.attempt, SINCE: item.since})
        except Exception as exc:
            log.error(
                "retried update %s failed: %s",
                item.update.get("update_id"),
                type(exc).__name__,
            )
        finally:
            self._slots.release()
            if raw is not None:
                try:
                    await self._redis.zrem(self._queue_key, raw)
                except RedisError:
                    # It comes due again when its lease ends and is handled once more.
                    log.warning("could not remove a retried update from the queue")

    async def _forget_abandoned(self) -> None:
        """Once Redis answers again, delete the claims whose answers were lost, so a
        redelivery reaching another worker is not taken for a duplicate."""
        for update_id, token in list(self._abandoned.items()):
            try:
                await self._release_abandoned(keys=[self._claim_key(update_id)], args=[token])
            except RedisError:
                return
            self._abandoned.pop(update_id, None)

    async def _save_local(self, timeout_s: float) -> None:
        if not self._local:
            return
        entries = {item.dump(): at for at, item in self._local}
        try:
            # A Redis that stopped answering (no socket timeout is set) must not hold the exit.
            await asyncio.wait_for(self._redis.zadd(self._queue_key, entries), timeout_s)
            self._local.clear()
        except (RedisError, TimeoutError) as exc:
            log.error(
                "%d deferred update(s) are lost: Redis is unavailable at shutdown (%s)",
                len(self._local),
                type(exc).__name__,
            )


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
        if not await self._delivery.claim(event.update_id):
            log.info("update %s was handled already; skipped", event.update_id)
            return None
        data[CLAIMED] = True
        return await handler(event, data)


# Due entries (score <= now), at most ARGV[3]; each is leased (re-scored to ARGV[2]) so another
# worker does not take it while this one handles it; a crash lets the lease run out.
_TAKE_DUE = """
local items = redis.call('zrangebyscore', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, ARGV[3])
for _, item in ipairs(items) do redis.call('zadd', KEYS[1], ARGV[2], item) end
return items
"""
_DELETE_IF_OURS = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end
return 0
"""
