"""Per-user ordering: a second message from the same user waits until the first is answered.

`LocalUserLocks` serves one process (terminal chat, polling). `RedisUserLocks` serves several
webhook workers behind one URL, so ordering does not depend on which worker got the update.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Protocol

from redis.asyncio import Redis
from redis.exceptions import LockError


class UserLocks(Protocol):
    def hold(self, user_id: int) -> AbstractAsyncContextManager[None]: ...


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
    def __init__(
        self,
        redis: Redis,
        *,
        prefix: str = "companion",
        lease_s: float = 180.0,
        wait_s: float = 300.0,
    ) -> None:
        self._redis = redis
        self._prefix = prefix
        # The lease outlives any sane reply; a crashed worker's lock expires by itself.
        self._lease_s = lease_s
        self._wait_s = wait_s

    @asynccontextmanager
    async def hold(self, user_id: int) -> AsyncIterator[None]:
        lock = self._redis.lock(
            f"{self._prefix}:user-lock:{user_id}",
            timeout=self._lease_s,
            blocking_timeout=self._wait_s,
            sleep=0.05,
        )
        if not await lock.acquire():
            raise UserBusyError(f"user {user_id} is still being answered")
        try:
            yield
        finally:
            # The lease may have expired during a very slow reply; then nothing is left to release.
            with contextlib.suppress(LockError):
                await lock.release()
