"""Token usage of one model call, reported to whoever keeps metrics."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class TokenUsage:
    prompt_tokens: int
    completion_tokens: int
    # The model name that answered: the persona's adapter, or the base model after a fallback.
    model: str

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


# Called once per finished call; must be quick and must not raise (it runs inside the stream).
UsageCallback = Callable[[TokenUsage], None]
