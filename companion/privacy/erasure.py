"""Erasing a person: the one use case behind /forget and `companion db erase-user`.

Order matters:

1. `before` steps (billing's `stop_renewals`): a subscription left renewing would go on
   charging someone whose data is gone. If one fails, nothing is erased
   (`RenewalsNotStoppedError`) and the caller asks to try again later.
2. The database (`UserDataService.erase`: every collection, payments kept pseudonymised).
3. `after` steps: memory (facts, episodes, a pseudonymous forget marker that stops a memory
   pass running on another worker), in-process caches. A failure here is logged and the rest
   still runs: the database is already erased and what is left behind expires.
4. Redis: every key under the service's prefix that names the user (cached profile, FSM state
   and data, throttle counters, cached entitlement, locks, and whatever a later feature adds,
   as long as its key names the user id as one `:`-separated part), and the person's updates
   in shared queues; then, when Redis persists to disk (append-only file, snapshots), a
   rewrite, so the deleted keys leave the disk too.
5. `scrub`: the embedded database rolls its journal so the deleted documents' log records are
   gone from disk (`companion.storage.embedded.roll_journal`).

No log line here carries the user id, a name or a text: logs outlive the erasure. Exceptions
are logged by type with the id masked, never with a traceback (its message may hold the id).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from redis.asyncio import Redis
from redis.exceptions import RedisError, ResponseError

log = logging.getLogger(__name__)

# A step of the erasure, called with the user id.
ErasureStep = Callable[[int], Awaitable[object]]


class UserData(Protocol):
    """`companion.storage.user_data.UserDataService`."""

    async def erase(self, user_id: int) -> dict[str, int]: ...


class RenewalsNotStoppedError(RuntimeError):
    """A subscription could not be stopped: nothing was erased; try again later."""


@dataclass(frozen=True, slots=True)
class ErasureReport:
    documents: dict[str, int]  # documents removed (payments: pseudonymised) per collection
    redis_keys: int
    failed_steps: tuple[str, ...] = ()  # after-steps that failed (logged; caches expire)


def step_name(step: object) -> str:
    """A readable name for a step in logs (`BillingService.stop_renewals`)."""
    name = getattr(step, "__qualname__", None) or type(step).__name__
    return str(name)


def masked(exc: BaseException, user_id: int) -> str:
    """The exception's type and message with the user id replaced, fit for a log line."""
    text = str(exc).replace(str(user_id), "<user>")
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class RedisUserKeys:
    """Deletes every Redis key under `prefix` whose name has the user id as one part, and
    every member of a shared queue (list, set, sorted set) that is a Telegram update from or
    to the user (the delivery retry queue keeps whole updates, texts and names included).

    A SCAN over the prefix: O(keys), fine for an operation as rare as an erasure, and it needs
    no list of key layouts to keep in sync (a new cache that names the user is covered).
    """

    def __init__(self, redis: Redis, *, prefix: str, batch: int = 500) -> None:
        self._redis = redis
        self._prefix = prefix
        self._batch = batch

    async def delete(self, user_id: int) -> int:
        wanted = str(user_id)
        start = len(self._prefix) + 1
        doomed: list[bytes | str] = []
        deleted = 0
        queues: list[bytes | str] = []
        async for key in self._redis.scan_iter(match=f"{self._prefix}:*", count=1000):
            name = key.decode("utf-8", "replace") if isinstance(key, bytes) else str(key)
            if wanted in name[start:].split(":"):
                doomed.append(key)
            else:
                queues.append(key)
            if len(doomed) >= self._batch:
                deleted += int(await self._redis.delete(*doomed))
                doomed.clear()
        if doomed:
            deleted += int(await self._redis.delete(*doomed))
        # The other keys' types, a pipeline per batch (most are strings: caches, counters).
        for first in range(0, len(queues), self._batch):
            chunk = queues[first : first + self._batch]
            async with self._redis.pipeline(transaction=False) as pipe:
                for key in chunk:
                    pipe.type(key)
                kinds = await pipe.execute()
            for key, kind in zip(chunk, kinds, strict=True):
                kind = kind.decode() if isinstance(kind, bytes) else str(kind)
                if kind in ("zset", "set", "list"):
                    deleted += await self._drop_members(key, kind, user_id)
        return deleted

    async def _drop_members(self, key: bytes | str, kind: str, user_id: int) -> int:
        """Remove the members of a shared list/set/sorted set that concern the user."""
        if kind == "zset":
            members = [m async for m, _ in self._redis.zscan_iter(key)]
        elif kind == "set":
            members = [m async for m in self._redis.sscan_iter(key)]
        else:
            members = await self._redis.lrange(key, 0, -1)
        removed = 0
        for member in members:
            if not _concerns(member, user_id):
                continue
            if kind == "zset":
                removed += int(await self._redis.zrem(key, member))
            elif kind == "set":
                removed += int(await self._redis.srem(key, member))
            else:
                removed += int(await self._redis.lrem(key, 0, member))
        return removed

    async def rewrite_persistence(self) -> list[str]:
        """Have Redis rewrite the files it persists to from what it holds now.

        The append-only file logs every write, and a snapshot (RDB) holds the data as it was:
        the deleted keys would stay in them until Redis rewrites them on its own (the AOF when
        it has doubled, the snapshot at the next `save` point). Returns what was started
        ("aof", "rdb"); a snapshot is only asked for where snapshots are configured, so none
        is created where there was none. A managed Redis may refuse the commands (RedisError).
        """
        started: list[str] = []
        info = await self._redis.info("persistence")
        if int(info.get("aof_enabled", 0)):
            await self._redis.bgrewriteaof()
            started.append("aof")
        save_points = (await self._redis.config_get("save")).get("save", "")
        if save_points:
            await self._snapshot()
            started.append("rdb")
        return started

    async def _snapshot(self, wait_s: float = 30.0) -> None:
        """A snapshot taken now. One already being written started before the deletes and
        holds them: wait for it to finish, then take another."""
        deadline = time.monotonic() + wait_s
        while True:
            try:
                # SCHEDULE: runs after an AOF rewrite in progress instead of failing.
                await self._redis.bgsave(schedule=True)
                return
            except ResponseError as exc:
                if "in progress" not in str(exc) or time.monotonic() > deadline:
                    raise
            await asyncio.sleep(0.1)


def _concerns(member: bytes | str, user_id: int) -> bool:
    """Whether a queued JSON value holds a Telegram update (or part of one) from or to the
    user: some object with `from`, `chat` or `user` whose `id` is the user id."""
    text = member.decode("utf-8", "replace") if isinstance(member, bytes) else member
    if str(user_id) not in text:
        return False  # cheap: most members are somebody else's
    try:
        value = json.loads(text)
    except ValueError:
        return False
    stack: list[object] = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            for field in ("from", "chat", "user"):
                party = item.get(field)
                if isinstance(party, dict) and party.get("id") == user_id:
                    return True
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


@dataclass
class Erasure:
    user_data: UserData
    before: Sequence[ErasureStep] = ()
    after: Sequence[ErasureStep] = ()
    redis_keys: RedisUserKeys | None = None
    scrub: Callable[[], Awaitable[object]] | None = None

    async def erase(self, user_id: int) -> ErasureReport:
        """Erase everything about the user; raises `RenewalsNotStoppedError` (nothing erased)
        when a subscription could not be stopped."""
        for step in self.before:
            try:
                await step(user_id)
            except Exception as exc:
                log.error(
                    "erasure refused: %s failed (%s); nothing was erased",
                    step_name(step),
                    masked(exc, user_id),
                )
                raise RenewalsNotStoppedError(step_name(step)) from None
        documents = await self.user_data.erase(user_id)
        failed: list[str] = []
        for step in self.after:
            try:
                await step(user_id)
            except Exception as exc:
                failed.append(step_name(step))
                log.error("erasure step %s failed: %s", step_name(step), masked(exc, user_id))
        keys = 0
        if self.redis_keys is not None:
            try:
                keys = await self.redis_keys.delete(user_id)
            except RedisError as exc:
                failed.append("redis")
                log.error("erasure could not clear Redis: %s", masked(exc, user_id))
            try:
                await self.redis_keys.rewrite_persistence()
            except RedisError as exc:  # already rewriting, or the command is disabled
                log.warning("Redis did not rewrite its files: %s", type(exc).__name__)
        if self.scrub is not None:
            try:
                await self.scrub()
            except Exception as exc:
                failed.append("scrub")
                log.error("erasure could not roll the database journal: %s", type(exc).__name__)
        removed = {name: count for name, count in documents.items() if count}
        log.info("erasure done: documents %s, redis keys %d", removed, keys)
        return ErasureReport(documents, keys, tuple(failed))
