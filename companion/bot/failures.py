"""Which failures of a handler are a dependency being down (retried later, no apology) rather
than a bug or bad input (`companion.bot.delivery`)."""

from __future__ import annotations

from pymongo.errors import ConnectionFailure
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from companion.llm.base import LLMUnavailableError
from companion.storage.database import DatabaseUnavailableError


class RetryUpdateLater(Exception):  # noqa: N818 - it is a request, not an error
    """Raise (``from`` the cause) in a handler that cannot finish now for a reason that will
    pass (e.g. a payment that could not be recorded): the update is handled again later."""


_TRANSIENT: tuple[type[BaseException], ...] = (
    RetryUpdateLater,
    ConnectionFailure,  # pymongo: server selection timeout, network errors, pool timeouts
    DatabaseUnavailableError,
    RedisConnectionError,  # includes BusyLoadingError (a Redis loading its data after a start)
    RedisTimeoutError,
    LLMUnavailableError,  # the model could not be reached before any text was produced
)


def is_infrastructure_failure(exc: BaseException) -> bool:
    """Whether `exc` (or what caused it) is a dependency being down, not a bug or bad input."""
    seen = 0
    current: BaseException | None = exc
    while current is not None and seen < 8:
        if isinstance(current, _TRANSIENT):
            return True
        current = current.__cause__ or current.__context__
        seen += 1
    return False
