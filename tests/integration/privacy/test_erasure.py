"""The erasure use case over real parts: SecantusDB (`UserDataService`), Redis, and a Redis of
our own that keeps an append-only file on disk."""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis
from pymongo.asynchronous.database import AsyncDatabase

from companion.domain.models import User
from companion.privacy.erasure import Erasure, RedisUserKeys, RenewalsNotStoppedError
from companion.storage import collections as c
from companion.storage.crypto import AesGcmCipher
from companion.storage.user_data import UserDataService
from companion.storage.users import UserRepository

USER = 48_151_623_42
OTHER = 48_151_623_421  # the same digits and more: must not be taken for the user


class StopRenewalsError(RuntimeError):
    pass


async def refuse(user_id: int) -> None:
    raise StopRenewalsError(f"could not cancel the subscription of user {user_id}")


@pytest.fixture
async def stored(mongo_db: AsyncDatabase[Any]) -> UserDataService:
    cipher = AesGcmCipher(b"k" * 32)
    for user_id in (USER, OTHER):
        await UserRepository(mongo_db, cipher).upsert(User(id=user_id, first_name="Ada"))
    return UserDataService(mongo_db, cipher)


async def test_nothing_is_erased_when_renewals_cannot_be_stopped(
    stored: UserDataService,
    mongo_db: AsyncDatabase[Any],
    redis_client: aioredis.Redis,
    redis_prefix: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    await redis_client.set(f"{redis_prefix}:bot:user:{USER}", "cached")
    erasure = Erasure(
        stored, before=[refuse], redis_keys=RedisUserKeys(redis_client, prefix=redis_prefix)
    )
    caplog.set_level(logging.INFO)
    with pytest.raises(RenewalsNotStoppedError):
        await erasure.erase(USER)
    assert await mongo_db[c.USERS].count_documents({"_id": USER}) == 1
    assert await redis_client.exists(f"{redis_prefix}:bot:user:{USER}") == 1
    # The operator learns what failed, with the id masked (logs outlive the erasure).
    [line] = [r.getMessage() for r in caplog.records if r.name == "companion.privacy.erasure"]
    assert "nothing was erased" in line and "StopRenewalsError" in line and "<user>" in line
    assert str(USER) not in caplog.text


async def test_a_failed_cache_step_does_not_stop_the_rest(
    stored: UserDataService,
    mongo_db: AsyncDatabase[Any],
    redis_client: aioredis.Redis,
    redis_prefix: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    keys = [
        f"{redis_prefix}:bot:user:{USER}",
        f"{redis_prefix}:fsm:{USER}:{USER}:data",
        f"{redis_prefix}:bot:throttle:msg:{USER}:123456",
        f"{redis_prefix}:billing:subscription:{USER}",
    ]
    kept = [f"{redis_prefix}:bot:user:{OTHER}", f"{redis_prefix}:stats:starts:2026-12-05"]
    for key in keys + kept:
        await redis_client.set(key, "x")
    scrubbed: list[bool] = []

    async def scrub() -> None:
        scrubbed.append(True)

    erasure = Erasure(
        stored,
        after=[refuse],
        redis_keys=RedisUserKeys(redis_client, prefix=redis_prefix, batch=2),
        scrub=scrub,
    )
    caplog.set_level(logging.INFO)
    report = await erasure.erase(USER)
    assert report.documents[c.USERS] == 1 and report.redis_keys == len(keys)
    assert report.failed_steps == ("refuse",)
    assert [await redis_client.exists(key) for key in keys] == [0] * len(keys)
    assert [await redis_client.exists(key) for key in kept] == [1] * len(kept)
    assert scrubbed == [True]
    assert await mongo_db[c.USERS].count_documents({"_id": OTHER}) == 1
    assert str(USER) not in caplog.text


async def test_queued_updates_of_the_person_are_dropped(
    redis_client: aioredis.Redis, redis_prefix: str
) -> None:
    """A shared retry queue (a sorted set of whole Telegram updates) loses the person's
    updates, with their text and name, and keeps everyone else's."""

    def update(update_id: int, user_id: int, text: str) -> str:
        sender = {"id": user_id, "is_bot": False, "first_name": "Ada"}
        message = {"message_id": 1, "from": sender, "chat": {"id": user_id}, "text": text}
        return json.dumps({"u": {"update_id": update_id, "message": message}, "a": 1})

    queue = f"{redis_prefix}:bot:updates:retry"
    mine = [update(1, USER, "my secret"), update(2, USER, "another")]
    theirs = [update(3, OTHER, f"I am not {USER}"), update(4, 7, "hello")]
    await redis_client.zadd(queue, {member: index for index, member in enumerate(mine + theirs)})
    await redis_client.rpush(f"{redis_prefix}:some:list", mine[0], theirs[0])

    removed = await RedisUserKeys(redis_client, prefix=redis_prefix).delete(USER)

    assert removed == 3
    left = [m.decode() for m in await redis_client.zrange(queue, 0, -1)]
    assert left == theirs
    assert [m.decode() for m in await redis_client.lrange(f"{redis_prefix}:some:list", 0, -1)] == [
        theirs[0]
    ]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


PERSISTENCE = {
    # Every write logged to an append-only file (the production compose's Redis).
    "aof": ["--save", "", "--appendonly", "yes", "--appendfsync", "always"],
    # Snapshots only.
    "rdb": ["--save", "3600 1", "--appendonly", "no"],
}


@pytest.fixture(params=sorted(PERSISTENCE))
def disk_redis(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, Path, str]]:
    """A Redis of our own that persists to `tmp_path` (append-only file or snapshots)."""
    mode = str(request.param)
    port = _free_port()
    process = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--dir", str(tmp_path)]
        + PERSISTENCE[mode],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        yield f"redis://127.0.0.1:{port}/0", tmp_path, mode
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture
async def disk_client(disk_redis: tuple[str, Path, str]) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.from_url(disk_redis[0])
    deadline = time.monotonic() + 10
    while True:
        try:
            await client.ping()
            break
        except Exception:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.1)
    yield client
    await client.aclose()


async def test_deleted_keys_leave_the_files_redis_persists_to(
    disk_redis: tuple[str, Path, str], disk_client: aioredis.Redis
) -> None:
    _, directory, mode = disk_redis
    await disk_client.set(f"companion:bot:user:{USER}", '{"first_name": "Ada"}')
    someone_else = 27_182_818_28
    await disk_client.set(f"companion:bot:user:{someone_else}", "stays")
    if mode == "rdb":
        await disk_client.bgsave()  # a snapshot taken while the person was known

    def files_naming(user: int) -> list[str]:
        named = []
        for path in directory.rglob("*"):
            try:
                if f":{user}".encode() in path.read_bytes():
                    named.append(path.name)
            except (FileNotFoundError, IsADirectoryError):
                continue  # a temporary file of the rewrite, gone meanwhile; a directory
        return named

    deadline = time.monotonic() + 20
    while not files_naming(USER) and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    assert files_naming(USER), "Redis should have written the key to disk"
    keys = RedisUserKeys(disk_client, prefix="companion")
    assert await keys.delete(USER) == 1
    assert await keys.rewrite_persistence() == [mode]
    deadline = time.monotonic() + 20
    while files_naming(USER) and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    assert files_naming(USER) == []
    assert files_naming(someone_else)  # rewritten from what Redis holds, not emptied
