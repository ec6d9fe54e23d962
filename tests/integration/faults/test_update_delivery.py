"""Claims and the retry queue of `companion.bot.delivery` against a real (private) Redis."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
import redis.asyncio as aioredis
from aiogram.types import Update
from pymongo.errors import ServerSelectionTimeoutError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError

from companion.bot.delivery import (
    ATTEMPT,
    CLAIMED,
    SINCE,
    UpdateDelivery,
)
from companion.bot.failures import is_infrastructure_failure
from companion.dialogs.events import ReplyFailedError
from companion.llm.base import LLMStreamInterruptedError, LLMUnavailableError
from tests.e2e.faults.processes import PrivateRedis


@pytest.fixture
async def client(private_redis: PrivateRedis) -> AsyncIterator[aioredis.Redis]:
    redis = aioredis.from_url(private_redis.url, socket_connect_timeout=2)
    yield redis
    await redis.aclose()


def _update(update_id: int, **message: Any) -> Update:
    return Update.model_validate(
        {
            "update_id": update_id,
            "message": {
                "message_id": 1,
                "date": 1,
                "from": {"id": 9, "is_bot": False, "first_name": "E"},
                "chat": {"id": 9, "type": "private"},
                **message,
            },
        }
    )


class Feed:
    def __init__(self) -> None:
        self.fed: list[tuple[dict[str, Any], dict[str, Any]]] = []

    async def __call__(self, update: dict[str, Any], **kwargs: Any) -> None:
        self.fed.append((update, kwargs))

    async def wait(self, count: int, timeout: float = 15.0) -> None:
        deadline = time.monotonic() + timeout
        while len(self.fed) < count:
            assert time.monotonic() < deadline, f"fed {len(self.fed)} of {count}"
            await asyncio.sleep(0.05)


async def test_an_update_is_claimed_once(client: aioredis.Redis) -> None:
    delivery = UpdateDelivery(client, prefix="t")
    assert await delivery.claim(1) is True
    assert await delivery.claim(1) is False
    assert 0 < await client.ttl("t:bot:update:1") <= 24 * 3600


async def test_a_claim_whose_answer_was_lost_is_still_ours(
    client: aioredis.Redis, private_redis: PrivateRedis
) -> None:
    delivery = UpdateDelivery(client, prefix="t")
    private_redis.kill()
    with pytest.raises(RedisError):
        await delivery.claim(2)
    private_redis.start()
    # As if the first SET had landed after all: the key holds the abandoned claim's token.
    token = delivery._abandoned[2]
    await client.set("t:bot:update:2", token)
    assert await delivery.claim(2) is True
    assert await delivery.claim(2) is False


async def test_a_deferred_update_is_fed_again_with_its_attempt(client: aioredis.Redis) -> None:
    delivery = UpdateDelivery(client, prefix="t", poll_s=0.05)
    feed = Feed()
    await delivery.start(feed)
    try:
        assert await delivery.defer(_update(3, text="hi"), attempt=1, since=None)
        await feed.wait(1)
        update, kwargs = feed.fed[0]
        assert Update.model_validate(update) == _update(3, text="hi")
        assert kwargs[CLAIMED] is True and kwargs[ATTEMPT] == 1 and kwargs[SINCE] > 0
        await asyncio.sleep(0.3)
        assert await client.zcard("t:bot:updates:retry") == 0  # done: removed
    finally:
        await delivery.stop()


async def test_with_redis_down_the_worker_keeps_it_and_retries(
    client: aioredis.Redis, private_redis: PrivateRedis
) -> None:
    delivery = UpdateDelivery(client, prefix="t", poll_s=0.05)
    feed = Feed()
    await delivery.start(feed)
    try:
        private_redis.kill()
        assert await delivery.defer(_update(4, text="hi"), attempt=1, since=None)
        assert delivery.pending_here == 1
        await feed.wait(1)
        assert feed.fed[0][0]["update_id"] == 4
    finally:
        await delivery.stop()


async def test_given_up_after_the_window_except_payments(client: aioredis.Redis) -> None:
    delivery = UpdateDelivery(client, prefix="t", retry_window_s=60)
    long_ago = time.time() - 120
    assert not await delivery.defer(_update(5, text="hi"), attempt=9, since=long_ago)
    paid = {
        "currency": "XTR",
        "total_amount": 300,
        "invoice_payload": "p",
        "telegram_payment_charge_id": "c",
        "provider_payment_charge_id": "",
    }
    assert await delivery.defer(_update(6, successful_payment=paid), attempt=9, since=long_ago)


def test_what_counts_as_a_dependency_being_down() -> None:
    unavailable = ReplyFailedError("x")
    unavailable.__cause__ = LLMUnavailableError("down")
    interrupted = ReplyFailedError("x")
    interrupted.__cause__ = LLMStreamInterruptedError("broke")
    assert is_infrastructure_failure(unavailable)
    assert is_infrastructure_failure(ServerSelectionTimeoutError("no server"))
    assert is_infrastructure_failure(RedisConnectionError("refused"))
    assert not is_infrastructure_failure(interrupted)
    assert not is_infrastructure_failure(ValueError("bug"))
