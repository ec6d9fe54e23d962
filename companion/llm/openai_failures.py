"""What a failed call to the OpenAI-compatible server was, and whether and when to try again.

Connection errors, timeouts, 429 and 5xx answers are transient; a 404 (or a 400 that says the
model "does not exist") means the requested model, usually a LoRA adapter, is not served.
"""

from __future__ import annotations

import asyncio
import logging
import random

import openai

from companion.llm.base import LLMUnavailableError

log = logging.getLogger(__name__)

_MAX_BACKOFF_S = 8.0


class RetryBudget:
    """Counts failed attempts of one call and sleeps between them; raises when spent."""

    def __init__(self, max_retries: int, backoff_s: float, server: str) -> None:
        self._max_retries = max(0, max_retries)
        self._backoff_s = backoff_s
        self._server = server
        self.failures = 0

    async def failed(self, exc: Exception) -> None:
        self.failures += 1
        if self.failures > self._max_retries:
            raise LLMUnavailableError(
                f"LLM server at {self._server} is unavailable after {self.failures} attempt(s): "
                f"{describe_failure(exc)}"
            ) from exc
        delay = min(_MAX_BACKOFF_S, self._backoff_s * 2 ** (self.failures - 1))
        # Jitter keeps many clients that failed together from retrying together.
        delay *= random.uniform(0.5, 1.0)
        log.warning(
            "LLM call to %s failed (%s); retry %d/%d in %.2f s",
            self._server,
            describe_failure(exc),
            self.failures,
            self._max_retries,
            delay,
        )
        await asyncio.sleep(delay)


def describe_failure(exc: BaseException) -> str:
    """One line about what went wrong, without the request body."""
    if isinstance(exc, openai.APITimeoutError):
        return "timed out"
    if isinstance(exc, openai.APIConnectionError):
        cause = exc.__cause__
        return f"connection failed ({cause})" if cause else "connection failed"
    if isinstance(exc, openai.APIStatusError):
        return f"HTTP {exc.status_code}: {error_message(exc)}"
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


def error_message(exc: openai.APIStatusError) -> str:
    body = exc.body
    if isinstance(body, dict):
        inner = body.get("error")
        if isinstance(inner, dict) and isinstance(inner.get("message"), str):
            return str(inner["message"])
        if isinstance(body.get("message"), str):
            return str(body["message"])
    return exc.message


def is_transient(exc: Exception) -> bool:
    if isinstance(exc, openai.APIConnectionError):  # includes APITimeoutError
        return True
    if isinstance(exc, openai.APIStatusError):
        return exc.status_code == 429 or exc.status_code >= 500
    return False


def is_missing_model(exc: Exception) -> bool:
    if not isinstance(exc, openai.APIStatusError):
        return False
    if exc.status_code == 404:
        return True
    # Some OpenAI-compatible servers answer 400 with the same text.
    return exc.status_code == 400 and "does not exist" in error_message(exc)
