"""The in-process chat model (transformers) for the embedded default and offline use.

- torch and transformers are imported on first use (`companion.llm.local_runtime`), so the bot
  does not load them unless this backend is chosen.
- The model loads once, lazily, in a worker thread (tens of seconds on CPU); call `load()` at
  start-up to pay that before the first message. `count_tokens` needs only the tokenizer and
  loads it synchronously if nobody has yet (a few seconds).
- One generation at a time per model (CPU-bound; a second request waits its turn). Text is
  produced by `model.generate` in a worker thread and handed to the event loop through
  transformers' `AsyncTextIteratorStreamer`, so the loop is never blocked.
- When the consumer stops iterating (or is cancelled), a stopping criterion ends the
  generation at the next token and the worker thread is joined before the next request runs.
- Two runtimes (`llm.local_runtime`): CTranslate2 int8 (`ct2_runtime`, the default where it
  loads: several times faster on CPU) and transformers (`local_runtime`, the fallback).
- A `json_schema` request is decoded under the schema's grammar (xgrammar, `json_grammar`) in
  either runtime, as vLLM's `response_format` does server-side: the answer is JSON the schema
  accepts. The system message only asks for JSON (`companion/prompts/json_output.j2`): the
  grammar writes the keys, so repeating the schema would only lengthen every prompt pass.
- With CTranslate2, a reply's `cacheable_prefix_chars` (the persona part of the system prompt)
  is read once and its state kept (`ct2_caches.PrefixCache`): later turns read only the rest.
- Sampling: temperature 0 is greedy; temperature, top_p, max_tokens, repetition_penalty, seed,
  stop strings and end_at_sentence_after are honoured; presence/frequency penalties have no
  transformers equivalent and are ignored. The request's `adapter` (a vLLM LoRA name) is
  ignored here.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import threading
from collections.abc import AsyncGenerator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from companion.config import LLMSettings
from companion.llm.base import (
    ChatRequest,
    LLMError,
    LLMStreamInterruptedError,
    LLMUnavailableError,
    Role,
)
from companion.llm.stop_strings import StopStringFilter, ends_sentence
from companion.llm.token_cache import CachedTokenCounter
from companion.llm.usage import TokenUsage, UsageCallback
from companion.prompts import prompt_templates

if TYPE_CHECKING:
    from companion.llm.ct2_runtime import Ct2Model, Ct2Run
    from companion.llm.local_runtime import GenerationRun, LoadedModel, ModelSource

log = logging.getLogger(__name__)

JSON_INSTRUCTION_TEMPLATE = "json_output.j2"


class LocalChatModel:
    """`ChatModel` running a transformers causal LM in this process."""

    def __init__(
        self,
        settings: LLMSettings,
        *,
        on_usage: UsageCallback | None = None,
        prompts_dir: Path | None = None,
    ) -> None:
        self._settings = settings
        self._on_usage = on_usage
        self._prompts_dir = prompts_dir
        self._source: ModelSource | None = None
        self._tokenizer: Any = None
        self._loaded: LoadedModel | Ct2Model | None = None
        # Loading happens in worker threads, possibly two at once (count_tokens + stream).
        self._load_lock = threading.Lock()
        self._generation_lock = asyncio.Lock()
        # Structured (JSON) requests are the memory pass's, in the background. With
        # CTranslate2 they take their own lane: the generator queues calls, so a reply waits
        # for at most one decoding pass of an extraction, not the whole extraction.
        self._background_lock = asyncio.Lock()
        self._active: set[GenerationRun | Ct2Run] = set()
        self._closed = False
        self._counts = CachedTokenCounter(self._count_tokens)
        self.last_usage: TokenUsage | None = None
        # "stop" (end of turn or a stop string), "length" (max_tokens) or "cancelled".
        self.last_finish_reason: str | None = None

    # ---- loading ---------------------------------------------------------------------------

    @property
    def loaded(self) -> bool:
        return self._loaded is not None

    async def load(self) -> None:
        """Load the tokenizer and the model (in a worker thread) unless already loaded."""
        if self._loaded is None:
            await asyncio.to_thread(self._load_model_sync)

    def _resolve_source(self) -> ModelSource:
        from companion.llm.local_runtime import resolve_model_source

        if self._source is None:
            self._source = resolve_model_source(
                self._settings.local_model, self._settings.local_gguf_file
            )
        return self._source

    def _load_tokenizer_sync(self) -> Any:
        with self._load_lock:
            if self._tokenizer is None:
                from companion.llm.local_runtime import ModelSource, load_tokenizer

                source = self._resolve_source()
                cached = self._cached_tokenizer(source)
                self._tokenizer = load_tokenizer(ModelSource(str(cached)) if cached else source)
            return self._tokenizer

    def _cached_tokenizer(self, source: ModelSource) -> Path | None:
        if self._settings.local_runtime == "transformers" or not source.gguf_file:
            return None
        try:
            from companion.llm.ct2_runtime import cached_tokenizer_dir
        except ImportError:
            return None
        return cached_tokenizer_dir(source, self._settings.local_cache_dir)

    @property
    def runtime(self) -> str | None:
        """ "ctranslate2" or "transformers" once loaded, else None."""
        if self._loaded is None:
            return None
        from companion.llm.local_runtime import LoadedModel

        return "transformers" if isinstance(self._loaded, LoadedModel) else "ctranslate2"

    def _load_model_sync(self) -> LoadedModel | Ct2Model:
        tokenizer = self._load_tokenizer_sync()
        with self._load_lock:
            if self._loaded is None:
                self._loaded = self._load_runtime(tokenizer)
            return self._loaded

    def _load_runtime(self, tokenizer: Any) -> LoadedModel | Ct2Model:
        settings = self._settings
        source = self._resolve_source()
        log.info("loading local model %s", source.describe())
        wanted = settings.local_runtime
        if wanted == "ctranslate2" or (wanted == "auto" and settings.local_device == "cpu"):
            try:
                from companion.llm.ct2_runtime import load_ct2

                return load_ct2(
                    source,
                    tokenizer,
                    settings.local_cache_dir,
                    settings.local_threads,
                    prefix_capacity=settings.local_prompt_cache,
                )
            except (ImportError, LLMError) as exc:
                if wanted == "ctranslate2":
                    raise LLMUnavailableError(f"CTranslate2 runtime unavailable: {exc}") from exc
                # Architectures CTranslate2 cannot convert still run, just slower.
                log.warning("CTranslate2 unavailable (%s); using transformers", exc)
        from companion.llm.local_runtime import load_model

        return load_model(source, tokenizer, settings.local_device, settings.local_threads)

    # ---- ChatModel -------------------------------------------------------------------------

    def count_tokens(self, text: str) -> int:
        """Exact, with the model's tokenizer (no special tokens)."""
        return self._counts(text)

    def _count_tokens(self, text: str) -> int:
        return len(self._load_tokenizer_sync().encode(text, add_special_tokens=False))

    async def stream(self, request: ChatRequest) -> AsyncGenerator[str, None]:
        if self._closed:
            raise LLMError("the local model is closed")
        await self.load()
        async with (
            self._lane(request),
            # aclosing: when our consumer stops, the inner generator must stop the thread now,
            # not whenever it is garbage-collected.
            contextlib.aclosing(self._generate(request)) as texts,
        ):
            async for text in texts:
                yield text

    async def complete(self, request: ChatRequest) -> str:
        return "".join([chunk async for chunk in self.stream(request)])

    async def aclose(self) -> None:
        self._closed = True
        for active in list(self._active):
            active.cancel.set()
        async with self._generation_lock, self._background_lock:
            self._loaded = None
            self._tokenizer = None

    def _lane(self, request: ChatRequest) -> asyncio.Lock:
        from companion.llm.local_runtime import LoadedModel

        if request.json_schema is None or isinstance(self._loaded, LoadedModel):
            return self._generation_lock  # transformers: one generation at a time
        return self._background_lock

    # ---- generation ------------------------------------------------------------------------

    def _new_run(self, request: ChatRequest) -> GenerationRun | Ct2Run:
        from companion.llm.local_runtime import GenerationRun, LoadedModel, encode_chat

        loaded = self._loaded
        if loaded is None:  # closed while waiting for the lock
            raise LLMError("the local model is closed")
        messages = self._messages(request)
        schema = request.json_schema
        if isinstance(loaded, LoadedModel):
            try:
                inputs = encode_chat(loaded, messages)
            except Exception as exc:
                raise LLMError(f"cannot apply the chat template: {exc}") from exc
            self._check_fits(int(inputs["input_ids"].shape[1]), loaded.max_positions)
            return GenerationRun(
                loaded=loaded,
                inputs=inputs,
                sampling=request.sampling,
                streamer=_streamer(loaded.tokenizer, skip_prompt=True),
                cancel=threading.Event(),
                logits_processor=(
                    None if schema is None else loaded.json_grammar().hf_logits_processor(schema)
                ),
            )
        from companion.llm.ct2_runtime import Ct2Run, chat_ids, stable_prefix_len

        try:
            ids = chat_ids(loaded.tokenizer, messages)
        except Exception as exc:
            raise LLMError(f"cannot apply the chat template: {exc}") from exc
        self._check_fits(len(ids), loaded.max_positions)
        stable = 0
        if schema is None and loaded.prefix_cache is not None:
            stable = stable_prefix_len(
                loaded.tokenizer, messages, request.cacheable_prefix_chars, ids
            )
        return Ct2Run(
            loaded=loaded,
            prompt_ids=ids,
            sampling=request.sampling,
            # Ct2Run hands over generated tokens only: there is no prompt to skip.
            streamer=_streamer(loaded.tokenizer, skip_prompt=False),
            cancel=threading.Event(),
            json_schema=schema,
            stable_prefix=stable,
        )

    @staticmethod
    def _check_fits(prompt_tokens: int, max_positions: int | None) -> None:
        if max_positions is not None and prompt_tokens >= max_positions:
            raise LLMError(
                f"the prompt takes {prompt_tokens} tokens; the local model's context window "
                f"is {max_positions} (lower llm.context_window)"
            )

    async def _generate(self, request: ChatRequest) -> AsyncGenerator[str, None]:
        run = self._new_run(request)
        thread = threading.Thread(target=run.run, name="companion-local-llm", daemon=True)
        stops = StopStringFilter(request.sampling.stop)
        sentence_after = request.sampling.end_at_sentence_after
        produced, ended, recent = False, False, ""
        self._active.add(run)
        thread.start()
        try:
            async for piece in run.streamer:
                text = stops.feed(piece)
                if text:
                    produced = True
                    yield text
                    recent = (recent + text)[-16:]
                if stops.stopped:
                    break
                # The short reply budget: enough said, and a sentence just ended.
                enough = bool(sentence_after) and run.completion_tokens >= (sentence_after or 0)
                if enough and ends_sentence(recent):
                    ended = True
                    break
            tail = stops.flush()
            if tail and run.error is None:
                produced = True
                yield tail
        finally:
            # Whether the consumer finished, stopped early or was cancelled: end the
            # generation at the next token and wait for the thread before the next request.
            run.cancel.set()
            await asyncio.to_thread(thread.join)
            self._active.discard(run)
            if run.error is None:
                self._finish(run, stopped_by_string=stops.stopped or ended)
        if run.error is not None:
            if produced:
                raise LLMStreamInterruptedError(
                    f"local generation failed after the reply started: {run.error}"
                ) from run.error
            raise LLMError(f"local generation failed: {run.error}") from run.error

    def _finish(self, run: GenerationRun | Ct2Run, *, stopped_by_string: bool) -> None:
        if stopped_by_string:
            reason = "stop"
        elif run.cancelled:
            reason = "cancelled"
        elif run.completion_tokens >= run.sampling.max_tokens:
            reason = "length"
        else:
            reason = "stop"
        self.last_finish_reason = reason
        usage = TokenUsage(
            prompt_tokens=run.prompt_tokens,
            completion_tokens=run.completion_tokens,
            model=self._settings.local_model,
        )
        self.last_usage = usage
        if self._on_usage is not None:
            try:
                self._on_usage(usage)
            except Exception:  # a metrics hiccup must not break a reply
                log.exception("token usage callback failed")

    def _messages(self, request: ChatRequest) -> list[dict[str, str]]:
        messages = [{"role": m.role.value, "content": m.content} for m in request.messages]
        if request.json_schema is None:
            return messages
        instruction = self._json_instruction(request.json_schema)
        for message in messages:
            if message["role"] == Role.SYSTEM.value:
                message["content"] = f"{message['content']}\n\n{instruction}"
                return messages
        return [{"role": Role.SYSTEM.value, "content": instruction}, *messages]

    def _json_instruction(self, schema: dict[str, Any]) -> str:
        template = prompt_templates(self._prompts_dir).get_template(JSON_INSTRUCTION_TEMPLATE)
        return template.render(schema_json=json.dumps(schema, ensure_ascii=False)).strip()


def _streamer(tokenizer: Any, *, skip_prompt: bool) -> Any:
    # Must be built inside the running event loop: it hands text to it thread-safely.
    from transformers import AsyncTextIteratorStreamer

    return AsyncTextIteratorStreamer(tokenizer, skip_prompt=skip_prompt, skip_special_tokens=True)
