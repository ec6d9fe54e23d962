"""Onboarding and consent, without Telegram: the use cases behind /start and the accept button.

Nothing about a person is stored before they accept the terms: until then the front-end keeps
what they chose (the language) in its own short-lived state, and `accept_terms` stores the
profile with it. The only trace of people who never accept is an anonymous daily counter.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime

from redis.asyncio import Redis
from redis.exceptions import RedisError

from companion.domain.models import Event, EventName, User
from companion.domain.ports import EventSink, UserStore
from companion.storage.redis import onboarding_counter_key

log = logging.getLogger(__name__)


def _now() -> datetime:
    return datetime.now(UTC)


class Onboarding:
    def __init__(
        self,
        users: UserStore,
        events: EventSink,
        redis: Redis | None,
        *,
        key_prefix: str,
        clock: Callable[[], datetime] = _now,
    ) -> None:
        self._users = users
        self._events = events
        self._redis = redis
        self._prefix = key_prefix
        self._clock = clock

    async def count_start(self, *, new: bool = False) -> None:
        """An anonymous daily /start counter for the funnel; best effort. `new`: someone who
        has not accepted the terms, also counted as the funnel's first step."""
        if self._redis is None:
            return
        day = self._clock().strftime("%Y%m%d")
        try:
            await self._redis.incr(f"{self._prefix}:stats:starts:{day}")
            if new:
                await self._redis.incr(onboarding_counter_key(self._prefix, "start", day))
        except RedisError:
            log.warning("could not count /start")

    async def count_language_chosen(self) -> None:
        """The funnel's second step (a language chosen before consent): anonymous, best effort."""
        if self._redis is None:
            return
        day = self._clock().strftime("%Y%m%d")
        try:
            await self._redis.incr(onboarding_counter_key(self._prefix, "language", day))
        except RedisError:
            log.warning("could not count a language choice")

    async def set_language(self, user_id: int, language: str) -> None:
        """The language of someone already stored (who accepted before)."""
        await self._users.update(user_id, language=language)

    async def accept_terms(self, user: User) -> bool:
        """Store the person (with the language they chose) as having accepted the terms now;
        False when they had accepted already (a second tap). `user` is updated in place."""
        if user.has_consented:
            return False
        now = self._clock()
        if await self._users.get(user.id) is None:
            user.consent_at = now
            await self._users.upsert(user)
        else:
            await self._users.update(user.id, consent_at=now, language=user.language)
        user.consent_at = now
        await self._events.record(Event(user_id=user.id, name=EventName.START, at=now))
        await self._events.record(Event(user_id=user.id, name=EventName.CONSENT, at=now))
        log.info("user %s accepted the terms", user.id)
        return True
