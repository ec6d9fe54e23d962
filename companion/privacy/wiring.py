"""The erasure use case over the composition root's services, for every front-end.

The bot (`companion.cli.bot.bot_deps`) and `companion db erase-user` both call
`build_erasure`, so /forget and the operator's command run the same steps.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from companion.privacy.erasure import Erasure, ErasureStep, RedisUserKeys
from companion.storage.embedded import roll_journal

if TYPE_CHECKING:
    from companion.app import Container
    from companion.billing.service import BillingService


def build_erasure(container: Container, billing: BillingService | None) -> Erasure:
    """`billing` stops renewals first (its `stop_renewals` is the before-erasure hook): pass
    the service wired with the Bot API, or Stars subscriptions cannot be cancelled."""
    before: list[ErasureStep] = [billing.stop_renewals] if billing is not None else []
    after: list[ErasureStep] = []
    if container.memory is not None:
        after.append(container.memory.forget_user)
    # Redis keys are swept below; this also drops what the entitlement service caches.
    after.append(container.entitlements.invalidate)
    redis_keys = (
        RedisUserKeys(container.redis, prefix=container.settings.redis.key_prefix)
        if container.redis is not None
        else None
    )
    database = container.database

    async def scrub() -> None:
        await roll_journal(database.db)

    return Erasure(
        container.user_data,
        before=before,
        after=after,
        redis_keys=redis_keys,
        # An external MongoDB's journal, oplog and backups are its operator's (docs/privacy.md).
        scrub=scrub if database.is_embedded else None,
    )
