"""The chat model served by an OpenAI-compatible server (vLLM in production), via the `openai` SDK.

Behaviour the rest of the service relies on:

- The persona's LoRA adapter name is sent as ``model``; when the server does not serve it
  (vLLM: 404 "The model `x` does not exist."), the request is repeated with the base model
  and the adapter is remembered as missing (see `AdapterAvailability`).
- Connection errors, timeouts, 429 and 5xx answers are retried with exponential backoff, but
  only while no text has been yielded: a stream that breaks after its first text chunk raises
  `LLMStreamInterruptedError` (repeating it would send the user a second, different reply).
- A server that stays unreachable raises `LLMUnavailableError` with a one-line message that
  names the URL.
- Token usage is requested in the stream (``stream_options.include_usage``) and reported to
  the ``on_usage`` callback; `last_usage` keeps the latest for the CLI and tests.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncGenerator, Callable
from typing import Any

import openai
from openai import AsyncOpenAI, AsyncStream, DefaultAioHttpClient
from openai.types.chat import ChatCompletion

from companion.config import LLMSettings
from companion.llm.adapters import AdapterAvailability
from companion.llm.base import ChatRequest, LLMError, LLMStreamInterruptedError, LLMUnavailableError
from companion.llm.openai_failures import (
    RetryBudget,
    describe_failure,
    is_missing_model,
    is_transient,
)
from companion.llm.token_cache import CachedTokenCounter
from companion.llm.token_estimate import estimate_tokens
from companion.llm.tokenizer_file import load_token_counter
from companion.llm.usage import TokenUsage, UsageCallback

log = logging.getLogger(__name__)


class _TruncatedStreamError(Exception):
    """A stream that ended without a finish reason."""


def _read_chunk(chunk: object) -> tuple[list[str], str | None, tuple[int, int] | None]:
    """A streamed chat completion chunk (parsed JSON): its texts, finish reason and usage.

    Follows the documented `chat.completion.chunk` shape; anything else in it is ignored.
    """
    if not isinstance(chunk, dict):
        return [], None, None
    texts: list[str] = []
    finish_reason: str | None = None
    for choice in chunk.get("choices") or ():
        if not isinstance(choice, dict):
            continue
        delta = choice.get("delta")
        text = delta.get("content") if isinstance(delta, dict) else None
        if isinstance(text, str) and text:
            texts.append(text)
        if isinstance(choice.get("finish_reason"), str):
            finish_reason = choice["finish_reason"]
    usage = chunk.get("usage")
    counts: tuple[int, int] | None = None
    if isinstance(usage, dict):
        counts = (int(usage.get("prompt_tokens") or 0), int(usage.get("completion_tokens") or 0))
    return texts, finish_reason, counts


class OpenAIChatModel:
    """`ChatModel` over the OpenAI chat completions API (vLLM, or any compatible server)."""

    def __init__(
        self,
        settings: LLMSettings,
        *,
        on_usage: UsageCallback | None = None,
        token_counter: Callable[[str], int] | None = None,
        retry_backoff_s: float | None = None,
        adapter_recheck_s: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not settings.base_url:
            raise ValueError("OpenAIChatModel needs llm.base_url (COMPANION_LLM__BASE_URL)")
        self._settings = settings
        self._server = settings.base_url.rstrip("/")
        self._on_usage = on_usage
        if token_counter is None and settings.tokenizer:
            token_counter = load_token_counter(settings.tokenizer)
        self._token_counter = CachedTokenCounter(token_counter or estimate_tokens)
        self._retry_backoff_s = (
            settings.retry_backoff_s if retry_backoff_s is None else retry_backoff_s
        )
        self._adapters = AdapterAvailability(
            settings.model,
            recheck_s=settings.adapter_recheck_s
            if adapter_recheck_s is None
            else adapter_recheck_s,
            clock=clock,
        )
        self._schemas_refused: set[str] = set()
        # The latest finished call's usage and finish reason ("stop", "length"), for the CLI,
        # benchmarks and tests; with concurrent calls it is whichever finished last.
        self.last_usage: TokenUsage | None = None
        self.last_finish_reason: str | None = None
        # connect: how long to wait for the TCP connection; read: the longest silence between
        # two received pieces (first token included), so a stalled server fails within
        # request_timeout_s while a long reply that keeps streaming does not.
        timeout = openai.Timeout(settings.request_timeout_s, connect=settings.connect_timeout_s)
        self._client = AsyncOpenAI(
            base_url=self._server,
            api_key=settings.api_key.get_secret_value() or "EMPTY",
            timeout=timeout,
            # The SDK's aiohttp transport: half the CPU per streamed reply of its default
            # (httpx/h11), measured 2.4 -> 1.2 ms for an 11-token reply; aiohttp is already
            # the bot's HTTP stack.
            http_client=DefaultAioHttpClient(timeout=timeout),
            # Retries are ours: the SDK's would also retry in ways we cannot bound to
            # "before the first chunk", and would not know about adapter fallback.
            max_retries=0,
        )

    @property
    def adapters(self) -> AdapterAvailability:
        return self._adapters

    @property
    def server(self) -> str:
        return self._server

    def count_tokens(self, text: str) -> int:
        """Exact with a `token_counter` or `llm.tokenizer`; else the documented estimate."""
        return self._token_counter(text)

    async def aclose(self) -> None:
        await self._client.close()

    async def served_models(self) -> list[str]:
        """Model names the server serves (`GET /v1/models`: the base model and its adapters).

        For start-up diagnostics, e.g. warning about personas whose adapter is not served.
        """
        try:
            page = await self._client.models.list()
        except openai.OpenAIError as exc:
            raise LLMUnavailableError(
                f"LLM server at {self._server} did not list its models: {describe_failure(exc)}"
            ) from exc
        return [model.id for model in page.data]

    # ---- streaming -------------------------------------------------------------------------

    async def stream(self, request: ChatRequest) -> AsyncGenerator[str, None]:
        """Yield reply text as the server produces it (see the module docstring for errors)."""
        budget = self._budget()
        model = self._adapters.model_for(request.adapter)
        use_schema = self._use_schema(request)
        while True:
            produced = False
            try:
                stream = await self._client.post(
                    "/chat/completions",
                    body={
                        **self._params(request, model, use_schema=use_schema),
                        "stream": True,
                        "stream_options": {"include_usage": True},
                    },
                    cast_to=ChatCompletion,
                    stream=True,
                    # Chunks as the parsed JSON: building a `ChatCompletionChunk` model for every
                    # token cost ~4 ms of CPU per reply in benchmarks/bot_throughput.py.
                    stream_cls=AsyncStream[object],
                )
                # `async with` closes the HTTP response when the consumer stops early, which
                # makes vLLM abort the generation instead of finishing it for nobody.
                finish_reason: str | None = None
                async with stream:
                    async for chunk in stream:
                        texts, finished, usage = _read_chunk(chunk)
                        if usage is not None:
                            self._record_usage(*usage, model)
                        for text in texts:
                            produced = True
                            yield text
                        finish_reason = finished or finish_reason
                if finish_reason is None:
                    # The body ended cleanly but the server never said the reply was done
                    # (a proxy cut it, or the server died between chunks).
                    raise _TruncatedStreamError("the stream ended without a finish reason")
                self.last_finish_reason = finish_reason
                self._adapters.mark_served(request.adapter if model != self._base else None)
                return
            except (openai.OpenAIError, _TruncatedStreamError) as exc:
                if produced:
                    raise LLMStreamInterruptedError(
                        f"stream from {self._server} broke after the reply started: "
                        f"{describe_failure(exc)}"
                    ) from exc
                if isinstance(exc, _TruncatedStreamError):
                    await budget.failed(exc)
                    continue
                model, use_schema = await self._handle_failure(
                    exc, request, model, use_schema, budget
                )

    # ---- one-shot --------------------------------------------------------------------------

    async def complete(self, request: ChatRequest) -> str:
        """The whole reply; with `json_schema` and `structured_output` the server enforces it."""
        budget = self._budget()
        model = self._adapters.model_for(request.adapter)
        use_schema = self._use_schema(request)
        while True:
            try:
                response = await self._client.post(
                    "/chat/completions",
                    body={**self._params(request, model, use_schema=use_schema), "stream": False},
                    cast_to=ChatCompletion,
                )
            except openai.OpenAIError as exc:
                model, use_schema = await self._handle_failure(
                    exc, request, model, use_schema, budget
                )
                continue
            self._adapters.mark_served(request.adapter if model != self._base else None)
            if response.choices:
                self.last_finish_reason = response.choices[0].finish_reason
            if response.usage is not None:
                self._record_usage(
                    response.usage.prompt_tokens, response.usage.completion_tokens, model
                )
            if not response.choices:
                return ""
            return response.choices[0].message.content or ""

    # ---- internals -------------------------------------------------------------------------

    @property
    def _base(self) -> str:
        return self._settings.model

    def _budget(self) -> RetryBudget:
        return RetryBudget(self._settings.max_retries, self._retry_backoff_s, self._server)

    def _use_schema(self, request: ChatRequest) -> bool:
        return (
            request.json_schema is not None
            and self._settings.structured_output
            and request.schema_name not in self._schemas_refused
        )

    async def _handle_failure(
        self,
        exc: openai.OpenAIError,
        request: ChatRequest,
        model: str,
        use_schema: bool,
        budget: RetryBudget,
    ) -> tuple[str, bool]:
        """Decide how to retry a failed attempt (nothing was yielded yet), or raise."""
        if is_missing_model(exc):
            if model != self._base:
                self._adapters.mark_missing(model, self._server)
                return self._base, use_schema
            raise LLMError(
                f"the base model {model!r} is not served by {self._server} "
                "(check llm.model against GET /v1/models)"
            ) from exc
        if isinstance(exc, Exception) and is_transient(exc):
            await budget.failed(exc)
            return model, use_schema
        if use_schema and isinstance(exc, openai.BadRequestError):
            # The server rejected structured output (or this schema); the caller validates
            # the JSON anyway, so ask again without response_format.
            if request.schema_name not in self._schemas_refused:
                log.warning(
                    "%s rejected response_format for schema %r (%s); "
                    "sending plain requests for it from now on",
                    self._server,
                    request.schema_name,
                    describe_failure(exc),
                )
                self._schemas_refused.add(request.schema_name)
            return model, False
        raise LLMError(f"LLM request to {self._server} failed: {describe_failure(exc)}") from exc

    def _params(self, request: ChatRequest, model: str, *, use_schema: bool) -> dict[str, Any]:
        """The JSON body of a chat completion request.

        It goes through the SDK's low-level `post` as plain JSON: `chat.completions.create`
        first walks every message through the SDK's TypedDict transform, which profiling
        showed costs ~50 ms of CPU per request with a persona-sized system prompt, more than
        the rest of a turn together. The wire format is the same.
        """
        sampling = request.sampling
        params: dict[str, Any] = {
            "model": model,
            "messages": [
                {"role": message.role.value, "content": message.content}
                for message in request.messages
            ],
            "temperature": sampling.temperature,
            "top_p": sampling.top_p,
            "max_tokens": sampling.max_tokens,
            "presence_penalty": sampling.presence_penalty,
            "frequency_penalty": sampling.frequency_penalty,
        }
        if sampling.stop:
            params["stop"] = list(sampling.stop)
        if sampling.seed is not None:
            params["seed"] = sampling.seed
        extra_body: dict[str, Any] = {}
        if sampling.repetition_penalty is not None:
            # vLLM's extra sampling parameter, not part of the OpenAI API.
            extra_body["repetition_penalty"] = sampling.repetition_penalty
        params.update(extra_body)
        if use_schema and request.json_schema is not None:
            params["response_format"] = {
                "type": "json_schema",
                "json_schema": {
                    "name": request.schema_name,
                    "schema": request.json_schema,
                    "strict": True,
                },
            }
        return params

    def _record_usage(self, prompt_tokens: int, completion_tokens: int, model: str) -> None:
        record = TokenUsage(
            prompt_tokens=prompt_tokens, completion_tokens=completion_tokens, model=model
        )
        self.last_usage = record
        if self._on_usage is not None:
            try:
                self._on_usage(record)
            except Exception:  # a metrics hiccup must not break a reply
                log.exception("token usage callback failed")
