"""Every update is handled once, and none is lost when the database, Redis or the model is down.

Telegram redelivers a webhook update only when the answer is an error; polling confirms updates
by offset before they are handled. So, in both modes:

- **Once.** An update is claimed by its id before it is handled (``SET NX`` with a day's TTL,
  the one extra Redis round trip of the normal path): a redelivered or re-polled duplicate is
  dropped. The webhook claims before it answers 200; when Redis cannot be reached it answers
  503 instead, so Telegram keeps the update and sends it again.
- **Not lost.** An update whose handling failed for an infrastructure reason (see
  `companion.bot.failures`) is put in a retry queue in Redis (a sorted set scored by when
  it is due) and handled again with backoff, by whichever worker polls it first; the user gets
  no apology for it. If Redis is down too, the worker keeps it in memory and retries it itself
  (the one case a crash of that worker loses it). A non-payment update that still fails after
  `retry_window_s` gets the apology and is dropped; a payment is retried until it is recorded.
- **Not lost when a worker dies.** The claim also *holds* the update: it is stored in Redis
  with a lease (`hold_lease_s`) that the worker handling it keeps renewing and drops when it is
  done (answered, apologised for, or deferred as above). A worker killed mid-reply (OOM, a
  lost node, SIGKILL) renews nothing, so when the lease runs out the retry queue hands the
  update to a worker still up, or to the same one restarted, and the user gets the reply after
  all. A worker told to stop hands its unfinished updates over at once. Scripts:
  `companion.bot.delivery_scripts`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

from aiogram.types import Update
from redis.asyncio import Redis
from redis.exceptions import RedisError

from companion.bot.delivery_scripts import CLAIM, DELETE_IF_OURS, HELD_PREFIX, TAKE_DUE
from companion.shutdown import CANCEL_GRACE_S, finish_or_abandon

log = logging.getLogger(__name__)

# Handed to `Dispatcher.feed_raw_update` (they reach middlewares and the error handler in
# `data`): the update was claimed already / how many times it failed / since when.
CLAIMED = "delivery_claimed"
ATTEMPT = "delivery_attempt"
SINCE = "delivery_since"
# A release or hand-over that Redis does not answer in this time is left to the lease.
RELEASE_TIMEOUT_S = 1.0  # within `companion.shutdown.CANCEL_GRACE_S`


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

    @classmethod
    def load_held(cls, payload: str | bytes) -> _Item:
        """A held update whose worker stopped: handled again as a retry (no second
        throttling, no apology), its retry window counted from when it arrived."""
        data = json.loads(payload)
        return cls(update=data["u"], attempt=1, since=float(data["s"]))


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
        hold_lease_s: float = 15.0,
        poll_s: float = 0.5,
        concurrency: int = 8,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._redis = redis
        self._prefix = prefix
        self._queue_key = f"{prefix}:bot:updates:retry"
        self._held_key = f"{prefix}:bot:updates:held"
        self._dedupe_ttl_s = dedupe_ttl_s
        self.retry_window_s = retry_window_s
        self._lease_s = lease_s
        # How long a held update waits for its worker before another takes it over: the
        # longest a user waits for the reply after a crash (plus a restart, if none is up).
        self.hold_lease_s = hold_lease_s
        self._poll_s = poll_s
        self._slots = asyncio.Semaphore(max(1, concurrency))
        self._concurrency = max(1, concurrency)
        self._clock = clock
        self._claim = redis.register_script(CLAIM)
        self._take_due = redis.register_script(TAKE_DUE)
        self._release_abandoned = redis.register_script(DELETE_IF_OURS)
        # Claims whose answer was lost (Redis down or stalled mid-command): the SET may still
        # land later, so a redelivery that finds this token must not count as a duplicate.
        self._abandoned: dict[int, str] = {}
        # Deferred updates that could not be put in Redis: retried from here.
        self._local: list[tuple[float, _Item]] = []
        # Holds whose release failed (Redis down): released again before the next round.
        self._unreleased: set[int] = set()
        self._consumer: asyncio.Task[None] | None = None
        self._running: set[asyncio.Task[None]] = set()

    def _claim_key(self, update_id: int) -> str:
        return f"{self._prefix}:bot:update:{update_id}"

    # -- once ----------------------------------------------------------------------------

    async def claim(self, update_id: int, update: dict[str, Any] | None = None) -> bool:
        """True when this update is new (handle it), False for a duplicate; raises RedisError
        when Redis cannot say (the caller must not acknowledge the update then). With
        `update` (as it arrived), the claim also holds it: handle it inside `holding`."""
        token = self._abandoned.get(update_id) or secrets.token_hex(8)
        now = self._clock()
        payload = "" if update is None else json.dumps({"u": update, "s": now})
        try:
            fresh = await self._claim(
                keys=[self._claim_key(update_id), self._queue_key, self._held_key],
                args=[token, self._dedupe_ttl_s, update_id, payload, now + self.hold_lease_s],
            )
        except RedisError:
            if len(self._abandoned) < 10_000:
                self._abandoned[update_id] = token
            raise
        if fresh:
            self._abandoned.pop(update_id, None)
        return bool(fresh)

    @contextlib.asynccontextmanager
    async def holding(self, update_id: int | None) -> AsyncIterator[None]:
        """Keep a held update's lease while the body handles it; then let it go. Cancelled
        (the worker is stopping), the update is handed over instead: due now, for a worker
        still up. `None`: nothing is held (an update without an id)."""
        if update_id is None:
            yield
            return
        release = partial(self._release, update_id)
        async with self._leased(f"{HELD_PREFIX}{update_id}", self.hold_lease_s, update_id, release):
            yield

    @contextlib.asynccontextmanager
    async def _leased(
        self,
        member: str,
        lease_s: float,
        update_id: object,
        done: Callable[[], Awaitable[None]],
    ) -> AsyncIterator[None]:
        """Renew the queue entry `member`'s lease while the body runs, then `done()`; a
        cancelled body (the worker is stopping) hands the entry over instead."""
        keeper = asyncio.create_task(self._keep_leased(member, lease_s))
        cancelled = False
        try:
            yield
        except asyncio.CancelledError:
            cancelled = True
            raise
        finally:
            keeper.cancel()
            if cancelled:
                await self._hand_over(member, update_id)
            else:
                await done()

    async def _keep_leased(self, member: str, lease_s: float) -> None:
        while True:
            await asyncio.sleep(lease_s / 3)
            with contextlib.suppress(RedisError):
                # XX: never re-create an entry another step removed meanwhile.
                await self._redis.zadd(self._queue_key, {member: self._clock() + lease_s}, xx=True)

    async def _release(self, update_id: int) -> None:
        """Drop a held update (its queue entry and its copy): it was handled."""
        try:
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.zrem(self._queue_key, f"{HELD_PREFIX}{update_id}")
                pipe.hdel(self._held_key, str(update_id))
                await asyncio.wait_for(pipe.execute(), RELEASE_TIMEOUT_S)
            self._unreleased.discard(update_id)
        except (RedisError, TimeoutError) as exc:
            # Held on: released again from the retry loop once Redis answers (unless its lease
            # runs out first; then it is handled once more).
            log.warning("update %s: could not release its hold (%s)", update_id, exc)
            self._unreleased.add(update_id)

    async def _drop(self, member: str) -> None:
        """Remove a retried entry from the queue: it was handled (or deferred anew)."""
        try:
            await self._redis.zrem(self._queue_key, member)
        except RedisError:
            # It comes due again when its lease ends and is handled once more.
            log.warning("could not remove a retried update from the queue")

    async def _hand_over(self, member: str, update_id: object) -> None:
        try:
            await asyncio.wait_for(
                self._redis.zadd(self._queue_key, {member: self._clock()}, xx=True),
                RELEASE_TIMEOUT_S,
            )
            log.warning("update %s cut short by the shutdown; handed to another worker", update_id)
        except (RedisError, TimeoutError) as exc:
            log.warning("update %s cut short; taken over when its lease ends (%s)", update_id, exc)

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

    async def queued(self) -> tuple[int, int]:
        """(deferred updates waiting for a retry, updates held while being handled), over
        every worker. A held update shares the queue with the retries, one entry each."""
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.zcard(self._queue_key)
            pipe.hlen(self._held_key)
            entries, held = await pipe.execute()
        return max(0, int(entries) - int(held)), int(held)

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
        cancelled and their queue entries handed over: due now, for a worker still up) and put
        what only this worker holds into Redis. Bounded throughout: a shutdown never hangs."""
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
        for update_id in list(self._unreleased):
            await self._release(update_id)
        free = self._concurrency - len(self._running)
        if free <= 0:
            return
        try:
            taken = await self._take_due(
                keys=[self._queue_key, self._held_key],
                args=[now, now + self._lease_s, free, now + self.hold_lease_s],
            )
        except RedisError:
            return
        for raw, held in zip(taken[::2], taken[1::2], strict=True):
            try:
                item = _Item.load_held(held) if held else _Item.load(raw)
            except (ValueError, KeyError, TypeError):
                log.error("dropping an unreadable entry of the update retry queue")
                with contextlib.suppress(RedisError):
                    await self._redis.zrem(self._queue_key, raw)
                continue
            if held:
                log.warning(
                    "update %s was left unfinished by a worker that stopped; handling it again",
                    item.update.get("update_id"),
                )
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
        update_id = item.update.get("update_id")
        member = raw.decode() if isinstance(raw, bytes) else raw
        lease: contextlib.AbstractAsyncContextManager[None] = contextlib.nullcontext()
        if member is not None and member.startswith(HELD_PREFIX):
            release = partial(self._release, int(item.update["update_id"]))
            lease = self._leased(member, self.hold_lease_s, update_id, release)
        elif member is not None:
            lease = self._leased(member, self._lease_s, update_id, partial(self._drop, member))
        try:
            async with lease:
                try:
                    log.info("retrying update %s (attempt %d)", update_id, item.attempt + 1)
                    # A failure now is deferred again by the error handler, as a new entry.
                    await feed(
                        item.update, **{CLAIMED: True, ATTEMPT: item.attempt, SINCE: item.since}
                    )
                except Exception as exc:
                    log.error("retried update %s failed: %s", update_id, type(exc).__name__)
        finally:
            self._slots.release()

    async def _forget_abandoned(self) -> None:
        """Once Redis answers again, delete the claims whose answers were lost, so a
        redelivery reaching another worker is not taken for a duplicate."""
        for update_id, token in list(self._abandoned.items()):
            try:
                await self._release_abandoned(
                    keys=[self._claim_key(update_id), self._queue_key, self._held_key],
                    args=[token, update_id],
                )
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
