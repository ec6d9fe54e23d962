"""A short-lived Redis cache in front of the user repository.

Every update needs the sender's profile; reading it from Redis spares MongoDB a round trip per
message. Writes go to the repository first and then drop the cached copy, so the next read
sees the change in every worker. The cached copy is sealed with the field cipher like the
profile in the database: Redis may persist it to disk (AOF/RDB), and the profile holds the
person's name, username and receipt contact. Pass the same instance to the dialogue service so
its updates (current persona, disclaimer shown) invalidate the cache too.
"""

from __future__ import annotations

import logging

from pydantic import ValidationError
from redis.asyncio import Redis
from redis.exceptions import RedisError

from companion.bot.deps import Users
from companion.domain.models import User
from companion.storage.crypto import DecryptionError, FieldCipher, PlaintextCipher

log = logging.getLogger(__name__)


class CachedUserStore:
    """Implements `companion.domain.ports.UserStore` (and the bot's `Users`)."""

    def __init__(
        self,
        inner: Users,
        redis: Redis,
        *,
        prefix: str,
        ttl_s: int = 30,
        cipher: FieldCipher | None = None,
    ) -> None:
        self._inner = inner
        self._redis = redis
        self._prefix = prefix
        self._ttl_s = ttl_s
        self._cipher: FieldCipher = cipher or PlaintextCipher()

    def _key(self, user_id: int) -> str:
        return f"{self._prefix}:bot:user:{user_id}"

    async def get(self, user_id: int) -> User | None:
        try:
            cached = await self._redis.get(self._key(user_id))
        except RedisError:
            log.warning("user cache unavailable; reading the database")
            cached = None
        if cached is not None:
            try:
                return User.model_validate_json(self._open(cached))
            except (ValidationError, DecryptionError):
                log.warning("dropping an unreadable cached profile")
        user = await self._inner.get(user_id)
        if user is not None:
            await self.remember(user)
        return user

    async def remember(self, user: User, *, only_if_cached: bool = False) -> None:
        """Cache `user`; `only_if_cached` refreshes an entry but never creates one (a write-back
        after a handler must not resurrect a profile that was just changed or erased)."""
        try:
            await self._redis.set(
                self._key(user.id),
                self._cipher.encrypt(user.model_dump_json()),
                ex=self._ttl_s,
                xx=only_if_cached,
            )
        except RedisError:
            log.warning("user cache unavailable; not caching a profile")

    def _open(self, cached: bytes | str) -> str:
        # JSON (cached in plaintext, before sealing or with encryption off) or an envelope.
        if isinstance(cached, str) or cached[:1] == b"{":
            return cached if isinstance(cached, str) else cached.decode("utf-8")
        return self._cipher.decrypt(cached)

    async def forget(self, user_id: int) -> None:
        try:
            await self._redis.delete(self._key(user_id))
        except RedisError:
            # No user id: this runs while erasing, and logs outlive the erasure.
            log.warning("user cache unavailable; could not drop a cached profile")

    async def upsert(self, user: User) -> User:
        stored = await self._inner.upsert(user)
        await self.forget(user.id)
        return stored

    async def update(self, user_id: int, **fields: object) -> User | None:
        updated = await self._inner.update(user_id, **fields)
        await self.forget(user_id)
        return updated
