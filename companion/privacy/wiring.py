"""The erasure use case over the services, as the composition root (`companion.app.build_app`)
assembles it: /forget and `companion db erase-user` both run `App.erasure`."""

from __future__ import annotations

from redis.asyncio import Redis

from companion.privacy.erasure import Erasure, ErasureStep, RedisUserKeys
from companion.storage.database import Database
from companion.storage.embedded import roll_journal
from companion.storage.user_data import UserDataService


def build_erasure(
    user_data: UserDataService,
    database: Database,
    *,
    stop_renewals: ErasureStep,
    forget_memory: ErasureStep | None,
    forget_mood: ErasureStep | None = None,
    invalidate_entitlements: ErasureStep,
    redis: Redis | None,
    key_prefix: str,
) -> Erasure:
    """`stop_renewals` runs first (billing's, wired with the Bot API, or Stars subscriptions
    cannot be cancelled): if it fails, nothing is erased."""
    after: list[ErasureStep] = []
    if forget_memory is not None:
        after.append(forget_memory)
    if forget_mood is not None:
        # Readings still queued for the user are dropped; one stored meanwhile is deleted.
        after.append(forget_mood)
    # Redis keys are swept below; this also drops what the entitlement service caches.
    after.append(invalidate_entitlements)

    async def scrub() -> None:
        await roll_journal(database.db)

    return Erasure(
        user_data,
        before=[stop_renewals],
        after=after,
        redis_keys=RedisUserKeys(redis, prefix=key_prefix) if redis is not None else None,
        # An external MongoDB's journal, oplog and backups are its operator's (docs/privacy.md).
        scrub=scrub if database.is_embedded else None,
    )
