"""Opening Redis (FSM state, throttling, entitlement cache), with a clear error when it is down."""

from __future__ import annotations

import logging

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from companion.config import RedisSettings
from companion.storage.database import mask_uri

log = logging.getLogger(__name__)


class RedisUnavailableError(RuntimeError):
    """Redis cannot be reached; the message is one line for the operator."""


async def create_redis(
    settings: RedisSettings, *, decode_responses: bool = False, connect_timeout_s: float = 5.0
) -> aioredis.Redis:
    """A connected client (pinged once); the caller closes it with `await client.aclose()`."""
    url = settings.url.get_secret_value()
    try:
        client: aioredis.Redis = aioredis.from_url(
            url,
            decode_responses=decode_responses,
            socket_connect_timeout=connect_timeout_s,
            health_check_interval=30,
        )
    except ValueError as exc:
        raise RedisUnavailableError(f"invalid Redis URL {mask_uri(url)}: {exc}") from exc
    try:
        await client.ping()
    except (RedisError, OSError) as exc:
        await client.aclose()
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise RedisUnavailableError(f"cannot reach Redis at {mask_uri(url)}: {reason}") from exc
    log.info("connected to Redis at %s", mask_uri(url))
    return client


def onboarding_counter_key(prefix: str, step: str, day: str) -> str:
    """The anonymous daily counter of an onboarding step taken before consent ("start",
    "language"; `day` as YYYYMMDD, UTC): written by `companion.privacy.consent.Onboarding`,
    read by the funnel report (`companion.analytics`). No user id: nobody is stored yet."""
    return f"{prefix}:stats:onboarding:{step}:{day}"
