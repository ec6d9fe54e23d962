"""Held updates (`companion.bot.delivery`): an update answered 200 is not lost when the worker
handling it dies or stops; against a real (private) Redis, several `UpdateDelivery` objects
standing for several workers."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
import redis.asyncio as aioredis

from companion.bot.delivery import ATTEMPT, CLAIMED, SINCE, UpdateDelivery
from tests.e2e.faults.processes import PrivateRedis
from tests.integration.faults.test_update_delivery import Feed, _update

QUEUE = "t:bot:updates:retry"
HELD = "t:bot:updates:held"


@pytest.fixture
async def client(private_redis: PrivateRedis) -> AsyncIterator[aioredis.Redis]:
    redis = aioredis.from_url(private_redis.url, socket_connect_timeout=2)
    await redis.flushdb()
    yield redis
    await redis.aclose()


def _arrived(update_id: int, text: str) -> dict[str, Any]:
    return _update(update_id, text=text).model_dump(mode="json", exclude_unset=True, by_alias=True)


async def _score(client: aioredis.Redis, update_id: int) -> float | None:
    score = await client.zscore(QUEUE, f"held:{update_id}")
    return None if score is None else float(score)


class Blocking(Feed):
    """A feed that never finishes (a reply stuck until the worker is stopped)."""

    async def __call__(self, update: dict[str, Any], **kwargs: Any) -> None:
        await super().__call__(update, **kwargs)
        await asyncio.Event().wait()


async def test_a_held_update_is_renewed_while_handled_and_released_after(
    client: aioredis.Redis,
) -> None:
    worker = UpdateDelivery(client, prefix="t", hold_lease_s=0.6)
    assert await worker.claim(10, _arrived(10, "hi"))
    first = await _score(client, 10)
    assert first is not None and first > time.time()
    assert json.loads(await client.hget(HELD, "10"))["u"]["message"]["text"] == "hi"
    async with worker.holding(10):
        await asyncio.sleep(0.5)  # past a third of the lease: renewed at least once
        renewed = await _score(client, 10)
        assert renewed is not None and renewed > first
    assert await client.zcard(QUEUE) == 0
    assert await client.hlen(HELD) == 0
    # Still claimed: a redelivery is a duplicate.
    assert await worker.claim(10, _arrived(10, "hi")) is False


async def test_an_update_whose_worker_died_is_answered_by_another(client: aioredis.Redis) -> None:
    died = UpdateDelivery(client, prefix="t", hold_lease_s=0.5)
    arrived_at = time.time()
    # Claimed and held, answered 200, then the worker was killed: nothing renews or releases.
    assert await died.claim(11, _arrived(11, "are you there?"))

    survivor = UpdateDelivery(client, prefix="t", hold_lease_s=0.5, poll_s=0.05)
    feed = Feed()
    await survivor.start(feed)
    try:
        await feed.wait(1, timeout=10)
        update, kwargs = feed.fed[0]
        assert update["message"]["text"] == "are you there?"
        # A retry: not throttled again, no apology, its window counted from its arrival.
        assert kwargs[CLAIMED] is True and kwargs[ATTEMPT] == 1
        assert abs(kwargs[SINCE] - arrived_at) < 1.0
        await asyncio.sleep(0.3)
        assert await client.zcard(QUEUE) == 0 and await client.hlen(HELD) == 0
        await asyncio.sleep(1.0)
        assert len(feed.fed) == 1  # once
    finally:
        await survivor.stop()


async def test_an_update_being_handled_is_not_taken_by_another_worker(
    client: aioredis.Redis,
) -> None:
    handling = UpdateDelivery(client, prefix="t", hold_lease_s=0.4)
    other = UpdateDelivery(client, prefix="t", hold_lease_s=0.4, poll_s=0.05)
    feed = Feed()
    await other.start(feed)
    try:
        assert await handling.claim(12, _arrived(12, "long story"))
        async with handling.holding(12):
            await asyncio.sleep(2.0)  # five leases long: renewed all along
        await asyncio.sleep(0.5)
        assert feed.fed == []
    finally:
        await other.stop()


async def test_a_worker_told_to_stop_hands_its_update_over_at_once(
    client: aioredis.Redis,
) -> None:
    stopping = UpdateDelivery(client, prefix="t", hold_lease_s=60)
    assert await stopping.claim(13, _arrived(13, "cut short"))

    async def handle() -> None:
        async with stopping.holding(13):
            await asyncio.Event().wait()

    task = asyncio.create_task(handle())
    await asyncio.sleep(0.1)
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    score = await _score(client, 13)
    assert score is not None and score <= time.time()  # due now, not in a minute

    up = UpdateDelivery(client, prefix="t", hold_lease_s=60, poll_s=0.05)
    feed = Feed()
    await up.start(feed)
    try:
        await feed.wait(1, timeout=5)
        assert feed.fed[0][0]["message"]["text"] == "cut short"
    finally:
        await up.stop()


async def test_a_retry_cut_short_by_the_shutdown_stays_queued(client: aioredis.Redis) -> None:
    worker = UpdateDelivery(client, prefix="t", poll_s=0.05)
    feed = Blocking()
    await worker.start(feed)
    assert await worker.defer(_update(14, text="again"), attempt=1, since=None)
    await feed.wait(1)
    await worker.stop(timeout_s=0.1)
    # Before, the cancelled retry removed its own entry: the update was lost.
    entries = await client.zrange(QUEUE, 0, -1, withscores=True)
    assert [json.loads(member)["u"]["update_id"] for member, _ in entries] == [14]
    assert entries[0][1] <= time.time()
