"""The chat model interface every backend implements, and the request it takes."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from enum import StrEnum
from typing import Any, Protocol, runtime_checkable

from pydantic import BaseModel, Field


class Role(StrEnum):
    SYSTEM = "system"
    USER = "user"
    ASSISTANT = "assistant"


class ChatMessage(BaseModel):
    role: Role
    content: str


class SamplingParams(BaseModel):
    temperature: float = Field(default=0.8, ge=0.0, le=2.0)
    top_p: float = Field(default=0.95, gt=0.0, le=1.0)
    max_tokens: int = Field(default=512, ge=1, le=8192)
    presence_penalty: float = Field(default=0.0, ge=-2.0, le=2.0)
    frequency_penalty: float = Field(default=0.0, ge=-2.0, le=2.0)
    repetition_penalty: float | None = Field(default=None, ge=0.5, le=2.0)
    stop: list[str] = Field(default_factory=list)
    seed: int | None = None
    # Once this many tokens are out, end the reply at the next sentence end (a chat message is
    # a few sentences; the local backend's short reply budget). None: run to max_tokens or the
    # end of turn. Backends that cannot stop there ignore it.
    end_at_sentence_after: int | None = Field(default=None, ge=1)


class ChatRequest(BaseModel):
    messages: list[ChatMessage]
    sampling: SamplingParams = Field(default_factory=SamplingParams)
    # LoRA adapter name served by vLLM (`--lora-modules name=path`); None means the base model.
    adapter: str | None = None
    # JSON schema for structured output (vLLM `response_format` json_schema); None: free text.
    json_schema: dict[str, Any] | None = None
    schema_name: str = "output"
    # The first system message's first characters that are the same on every turn of the
    # conversation (the persona part of the prompt, PromptPlan.stable_prefix_chars): a backend
    # may keep their state and read only what follows (the local backend's prompt cache).
    cacheable_prefix_chars: int = Field(default=0, ge=0)


class LLMError(Exception):
    """A model call failed; the message is safe to log, never shown to users verbatim."""


class LLMUnavailableError(LLMError):
    """The model server could not be reached (before any text was produced)."""


class LLMStreamInterruptedError(LLMError):
    """The stream broke after some text was produced; the partial text is not a reply."""


@runtime_checkable
class ChatModel(Protocol):
    """A chat model that streams reply text chunks."""

    def stream(self, request: ChatRequest) -> AsyncGenerator[str, None]:
        """Yield text chunks of the assistant's reply as they are generated."""
        ...

    async def complete(self, request: ChatRequest) -> str:
        """The whole reply at once (used for extraction and summaries)."""
        ...

    def count_tokens(self, text: str) -> int:
        """Tokens `text` takes for this model (exact where a tokenizer is at hand)."""
        ...

    async def aclose(self) -> None: ...
