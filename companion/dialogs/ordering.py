"""Per-user ordering: a second message from the same user waits until the first is answered.

`LocalUserLocks` serves one process (terminal chat, polling). `RedisUserLocks` serves several
webhook workers behind one URL, so ordering does not depend on which worker got the update.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from redis.asyncio import Redis
from redis.exceptions import RedisError

log = logging.getLogger(__name__)


class UserBusyError(RuntimeError):
    """The user's previous message is still being answered for longer than we wait."""


class LocalUserLocks:
    def __init__(self) -> None:
        self._locks: dict[int, asyncio.Lock] = {}
        self._waiters: dict[int, int] = {}

    @asynccontextmanager
    async def hold(self, user_id: int) -> AsyncIterator[None]:
        lock = self._locks.setdefault(user_id, asyncio.Lock())
        self._waiters[user_id] = self._waiters.get(user_id, 0) + 1
        try:
            async with lock:
                yield
        finally:
            # Forget idle users so the map does not grow with every user ever seen.
            self._waiters[user_id] -= 1
            if self._waiters[user_id] == 0:
                del self._waiters[user_id]
                del self._locks[user_id]


class RedisUserLocks:
    """A lock per user in Redis with a short lease that the holder renews while the turn runs.

    Why not redis-py's `Lock`: its acquire is a bare ``SET NX``; when the client retries it
    after a lost answer (a restart, a stall), the retry finds its own key and waits for the whole
    lease. Here every step is a script that checks the holder's token, so acquiring is
    idempotent, and the lease is short (a crashed worker's lock frees itself in seconds) yet
    never runs out under a long reply, because it is renewed every third of it.
    """

    def __init__(
        self,
        redis: Redis,
        *,
        prefix: str = "companion",
        lease_s: float = 15.0,
        wait_s: float = 300.0,
        poll_s: float = 0.05,
        outage_s: float = 10.0,
    ) -> None:
        self._redis = redis
        self._prefix = prefix
        self._lease_ms = max(100, int(lease_s * 1000))
        self._wait_s = wait_s
        self._poll_s = poll_s
        # How long Redis may stay unreachable before the turn gives up (and the update is
        # retried later) instead of holding a worker's slot.
        self._outage_s = outage_s
        self._acquire = redis.register_script(_ACQUIRE)
        self._renew = redis.register_script(_RENEW)
        self._release = redis.register_script(_RELEASE)

    @asynccontextmanager
    async def hold(self, user_id: int) -> AsyncIterator[None]:
        key = f"{self._prefix}:user-lock:{user_id}"
        token = secrets.token_hex(8)
        await self._take(key, token, user_id)
        # Most turns end within a third of the lease: a timer, not a task, until one does not.
        renewing: list[asyncio.Task[None]] = []
        timer = asyncio.get_running_loop().call_later(
            self._lease_ms / 3000,
            lambda: renewing.append(asyncio.create_task(self._keep(key, token, user_id))),
        )
        try:
            yield
        finally:
            timer.cancel()
            for task in renewing:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            await self._give_back(key, token, user_id)

    async def _take(self, key: str, token: str, user_id: int) -> None:
        deadline = time.monotonic() + self._wait_s
        failures = 0
        failing_since: float | None = None
        while True:
            try:
                if await self._acquire(keys=[key], args=[token, self._lease_ms]):
                    return
                failures, failing_since = 0, None
                pause = self._poll_s
            except RedisError as exc:
                # Redis is restarting or stalled: keep trying with the same token for a while
                # (a late answer to an earlier try is then recognised as ours).
                now = time.monotonic()
                failing_since = failing_since or now
                failures += 1
                pause = min(1.0, self._poll_s * 2**failures)
                if now + pause >= min(deadline, failing_since + self._outage_s):
                    raise
                log.warning("user lock unavailable (%s); retrying", type(exc).__name__)
            if time.monotonic() + pause >= deadline:
                raise UserBusyError(f"user {user_id} is still being answered")
            await asyncio.sleep(pause)

    async def _keep(self, key: str, token: str, user_id: int) -> None:
        period = self._lease_ms / 3000
        while True:
            try:
                # When Redis lost it (restarted empty) or the lease ran out during a stall, take
                # it back if it is free, so the user's next message still waits for this turn.
                if not await self._renew(
                    keys=[key], args=[token, self._lease_ms]
                ) and not await self._acquire(keys=[key], args=[token, self._lease_ms]):
                    log.warning("user %s: the ordering lock was lost mid-turn", user_id)
            except RedisError as exc:
                log.warning("could not renew a user lock (%s)", type(exc).__name__)
            await asyncio.sleep(period)

    async def _give_back(self, key: str, token: str, user_id: int) -> None:
        try:
            await self._release(keys=[key], args=[token])
        except RedisError as exc:
            # The reply is out already; an apology now would be wrong. The lease frees the lock
            # within lease_s at most.
            log.warning("could not release user %s's lock (%s)", user_id, type(exc).__name__)


# SET NX, or the key is already ours (an earlier try whose answer was lost): then extend it.
_ACQUIRE = """
if redis.call('set', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return 1 end
if redis.call('get', KEYS[1]) == ARGV[1] then
  redis.call('pexpire', KEYS[1], ARGV[2])
  return 1
end
return 0
"""
_RENEW = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) end
return 0
"""
_RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end
return 0
"""
