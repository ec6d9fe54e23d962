"""The services behind the owner's console's Users section and developer view, built for the
composition root (`companion.app.build_app`) in as few lines there as possible."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from contextlib import AsyncExitStack
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase
from redis.asyncio import Redis

from companion.analytics.error_log import ErrorLog, ErrorLogHandler
from companion.analytics.health import Check, HealthReport, QueueProbe, speech_check
from companion.analytics.user_lookup import MessageActivity, SubscriptionReader, UserLookup
from companion.config import RedisSettings
from companion.domain.models import utcnow
from companion.domain.ports import PaymentHistory
from companion.personas.repository import PersonaRepository
from companion.storage.crypto import FieldCipher
from companion.storage.users import UserRepository


def build_user_lookup(
    db: AsyncDatabase[dict[str, Any]],
    cipher: FieldCipher,
    subscriptions: SubscriptionReader,
    payments: PaymentHistory,
) -> UserLookup:
    # The uncached repository: support sees the profile as stored, and needs the @username index.
    users = UserRepository(db, cipher)
    return UserLookup(users, subscriptions, payments, MessageActivity(db), utcnow)


def build_health(
    redis: Redis | None,
    settings: RedisSettings,
    checks: Mapping[str, Check],
    personas: PersonaRepository,
    speech_pool: object,
    memory: object | None,
) -> HealthReport:
    """`speech_pool`: `TranscriptionPool` or `NoSpeech`; `memory`: `MemoryService` or None
    (read for their queue depths only). Without Redis there are no error counts."""
    error_log = ErrorLog(redis, prefix=settings.key_prefix) if redis is not None else None
    queues: dict[str, QueueProbe] = {"voice_notes_waiting": lambda: _int(speech_pool, "waiting")}
    if memory is not None:
        queues["memory_learning"] = lambda: _int(memory, "learning_backlog")
    return HealthReport(
        {**checks, "speech": speech_check(speech_pool)},
        queues,
        error_log,
        personas,
        started_at=time.time(),
    )


def _int(source: object, name: str) -> int:
    value = getattr(source, name, 0)
    return value if isinstance(value, int) else 0


def count_errors(
    health: HealthReport, listeners: list[Callable[[str], None]], stack: AsyncExitStack
) -> None:
    """Failures counted in `Metrics` (its `error_listeners`) and ERROR log lines go to the
    console's error counts, until `stack` closes."""
    error_log = health.errors
    if error_log is None:
        return
    listeners.append(error_log.note)
    stack.callback(listeners.remove, error_log.note)
    handler = ErrorLogHandler(error_log)
    logging.getLogger().addHandler(handler)
    stack.callback(logging.getLogger().removeHandler, handler)
    stack.push_async_callback(error_log.flush)
