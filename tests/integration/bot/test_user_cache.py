"""CachedUserStore against the real repository (SecantusDB) and real Redis."""

from __future__ import annotations

from typing import Any

import redis.asyncio as aioredis
from pymongo.asynchronous.database import AsyncDatabase

from companion.bot.user_cache import CachedUserStore
from companion.domain.models import User
from companion.storage.users import UserRepository


async def test_reads_through_and_invalidates_on_writes(
    mongo_db: AsyncDatabase[dict[str, Any]], redis_client: aioredis.Redis, redis_prefix: str
) -> None:
    repo = UserRepository(mongo_db)
    cache = CachedUserStore(repo, redis_client, prefix=redis_prefix, ttl_s=30)
    assert await cache.get(1) is None
    assert await redis_client.get(f"{redis_prefix}:bot:user:1") is None  # misses are not cached

    await cache.upsert(User(id=1, language="en", first_name="Ann"))
    assert (await cache.get(1)).first_name == "Ann"  # type: ignore[union-attr]
    assert await redis_client.get(f"{redis_prefix}:bot:user:1") is not None
    ttl = await redis_client.ttl(f"{redis_prefix}:bot:user:1")
    assert 0 < ttl <= 30

    # A write elsewhere (the repository directly) is not seen until the entry is refreshed...
    await repo.update(1, first_name="Anna")
    assert (await cache.get(1)).first_name == "Ann"  # type: ignore[union-attr]
    # ...but writes through the cache are seen at once.
    await cache.update(1, first_name="Anya")
    assert (await cache.get(1)).first_name == "Anya"  # type: ignore[union-attr]


async def test_write_back_never_creates_an_entry(
    mongo_db: AsyncDatabase[dict[str, Any]], redis_client: aioredis.Redis, redis_prefix: str
) -> None:
    repo = UserRepository(mongo_db)
    cache = CachedUserStore(repo, redis_client, prefix=redis_prefix, ttl_s=30)
    user = await repo.upsert(User(id=2, language="ru"))
    await cache.forget(2)
    await cache.remember(user, only_if_cached=True)  # e.g. after /forget erased the profile
    assert await redis_client.get(f"{redis_prefix}:bot:user:2") is None
    await cache.get(2)
    user.current_persona_id = "anna"
    await cache.remember(user, only_if_cached=True)
    assert (await cache.get(2)).current_persona_id == "anna"  # type: ignore[union-attr]
