"""Per-user ordering locks when Redis restarts or stalls (issue 13, item 5)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis

from companion.dialogs.ordering import RedisUserLocks
from tests.e2e.faults.processes import PrivateRedis


@pytest.fixture
async def client(private_redis: PrivateRedis) -> AsyncIterator[aioredis.Redis]:
    redis = aioredis.from_url(private_redis.url, socket_connect_timeout=5, health_check_interval=30)
    yield redis
    await redis.aclose()


async def _held_for(locks: RedisUserLocks, user_id: int, seconds: float) -> None:
    async with locks.hold(user_id):
        await asyncio.sleep(seconds)


async def test_a_long_turn_keeps_its_lock_past_the_lease(client: aioredis.Redis) -> None:
    locks = RedisUserLocks(client, prefix="t", lease_s=1.0, wait_s=30)
    first = asyncio.create_task(_held_for(locks, 1, 3.5))
    await asyncio.sleep(0.3)
    started = time.monotonic()
    async with locks.hold(1):
        waited = time.monotonic() - started
    await first
    # The lease is 1 s, but the first turn renewed it while it ran: the second waited for it.
    assert waited > 2.5


async def test_a_failed_release_is_not_an_error(
    client: aioredis.Redis, private_redis: PrivateRedis
) -> None:
    locks = RedisUserLocks(client, prefix="t", lease_s=2.0, wait_s=5)
    async with locks.hold(2):
        private_redis.kill()
    # Nothing raised: the reply was delivered; the lease ends the lock by itself.
    private_redis.start()


async def test_after_a_restart_and_a_stall_the_user_is_served_within_seconds(
    client: aioredis.Redis, private_redis: PrivateRedis
) -> None:
    locks = RedisUserLocks(client, prefix="t", wait_s=300)
    async with locks.hold(3):
        pass
    private_redis.restart()
    private_redis.stall()
    during = asyncio.create_task(_held_for(locks, 3, 0.1))
    await asyncio.sleep(3)
    private_redis.resume()
    resumed = time.monotonic()
    await asyncio.wait_for(during, 30)
    async with asyncio.timeout(30):
        async with locks.hold(3):
            pass
    assert time.monotonic() - resumed < 10
