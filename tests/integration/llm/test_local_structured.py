"""Schema-constrained JSON and the CTranslate2 runtime with the packaged SmolLM2.

Slow: one CTranslate2 conversion per session (tens of seconds on 2 busy cores), then a few
short generations per runtime.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from companion.config import LLMSettings
from companion.llm.base import ChatMessage, ChatRequest, Role, SamplingParams
from companion.llm.local_backend import LocalChatModel
from companion.memory.extraction import (
    EXTRACTION_SCHEMA,
    FACTS_PER_USER_MESSAGE,
    extraction_schema,
    parse_items,
)

pytestmark = pytest.mark.slow

MOOD_SCHEMA = {
    "type": "object",
    "properties": {
        "mood": {"type": "string", "enum": ["good", "bad", "mixed"]},
        "reason": {"type": "string", "maxLength": 80},
    },
    "required": ["mood", "reason"],
    "additionalProperties": False,
}


@pytest.fixture(scope="session")
def ct2_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("ct2-cache")


@pytest.fixture(params=["ctranslate2", "transformers"])
async def smollm2(request: pytest.FixtureRequest, ct2_cache: Path) -> AsyncIterator[LocalChatModel]:
    model = LocalChatModel(
        LLMSettings(
            backend="local",
            local_model="smollm2",
            local_runtime=request.param,
            local_cache_dir=ct2_cache,
        )
    )
    await model.load()
    assert model.runtime == request.param
    try:
        yield model
    finally:
        await model.aclose()


def _chatty(schema: dict[str, object] | None, text: str, max_tokens: int = 120) -> ChatRequest:
    # Sampling at temperature 1: left alone, the small model writes prose around any JSON.
    return ChatRequest(
        messages=[
            ChatMessage(role=Role.SYSTEM, content="You are a cheerful friend who loves to talk."),
            ChatMessage(role=Role.USER, content=text),
        ],
        sampling=SamplingParams(temperature=1.0, max_tokens=max_tokens, seed=7),
        json_schema=schema,
    )


async def test_json_schema_request_returns_json_the_schema_accepts(
    smollm2: LocalChatModel,
) -> None:
    for seed in (1, 2, 3):
        request = _chatty(MOOD_SCHEMA, "Tell me a long story about your day and your mood.")
        request.sampling.seed = seed
        raw = await smollm2.complete(request)
        data = json.loads(raw)  # exactly one JSON value: no prose, no "Extra data"
        assert set(data) == {"mood", "reason"}
        assert data["mood"] in {"good", "bad", "mixed"}
        assert len(data["reason"]) <= 80
        assert smollm2.last_finish_reason == "stop"


async def test_fact_extraction_schema_parses(smollm2: LocalChatModel) -> None:
    # The schema the extractor sends for one user message (3 facts at most).
    request = _chatty(
        extraction_schema(FACTS_PER_USER_MESSAGE, 1),
        "[1] user: I'm Maria, a nurse in Boston, and my dog is called Rex.\n"
        "List the facts about the user as JSON.",
        max_tokens=400,
    )
    request.sampling.temperature = 0.0
    raw = await smollm2.complete(request)
    items, invalid = parse_items(raw)  # raises on anything but a {"facts": [...]} object
    assert invalid == 0
    assert len(items) <= FACTS_PER_USER_MESSAGE


async def test_free_text_streams_and_respects_max_tokens(smollm2: LocalChatModel) -> None:
    chunks = [chunk async for chunk in smollm2.stream(_chatty(None, "How was your day?", 12))]
    assert "".join(chunks).strip()
    assert smollm2.last_usage is not None
    assert 1 <= smollm2.last_usage.completion_tokens <= 12


async def test_reply_is_not_queued_behind_a_background_extraction(ct2_cache: Path) -> None:
    """With CTranslate2 a reply waits for at most one pass of a running JSON request."""
    model = LocalChatModel(
        LLMSettings(local_model="smollm2", local_runtime="ctranslate2", local_cache_dir=ct2_cache)
    )
    await model.load()
    try:
        alone_started = time.monotonic()
        await model.complete(_chatty(None, "Hi!", 16))
        alone = time.monotonic() - alone_started
        background = asyncio.create_task(
            model.complete(_chatty(EXTRACTION_SCHEMA, "Describe everything as JSON.", 700))
        )
        await asyncio.sleep(0.5)
        started = time.monotonic()
        await model.complete(_chatty(None, "Hi!", 16))
        waited = time.monotonic() - started
        assert not background.done(), "the extraction should still be running"
        # Generous: one extraction pass plus the reply, far from the whole extraction.
        assert waited < alone * 4 + 10
        await background
    finally:
        await model.aclose()


async def test_constrained_restarts_use_a_bounded_prompt_cache(ct2_cache: Path) -> None:
    """Grammar restarts read the prompt's state from the cache; after `capacity` distinct
    prompts the cache's generator is dropped with its states and loaded afresh."""
    from companion.llm.ct2_runtime import Ct2Model

    model = LocalChatModel(
        LLMSettings(local_model="smollm2", local_runtime="ctranslate2", local_cache_dir=ct2_cache)
    )
    await model.load()
    try:
        loaded = model._loaded
        assert isinstance(loaded, Ct2Model) and loaded.prompt_cache is not None
        for question in ("How are you?", "What is your mood?", "Tell me about today."):
            raw = await model.complete(_chatty(MOOD_SCHEMA, question, 120))
            assert set(json.loads(raw)) == {"mood", "reason"}
        # Three distinct prompts, capacity 2: loaded for the first, reloaded for the third.
        assert loaded.prompt_cache.loads == 2
        raw = await model.complete(_chatty(MOOD_SCHEMA, "Tell me about today.", 120))
        assert set(json.loads(raw)) == {"mood", "reason"}
        assert loaded.prompt_cache.loads == 2  # the same prompt again: its state is cached
    finally:
        await model.aclose()


# -- the reply's stable prompt prefix (companion/llm/ct2_caches.py PrefixCache) ---------------


def _turn(facts: list[str], minute: int, *, cached: bool = True) -> ChatRequest:
    """A reply request as DialogService builds it: the persona part first, then what changes."""
    from datetime import UTC, datetime

    from companion.dialogs.prompts import PromptBuilder, SystemPromptContext
    from tests.unit.dialogs.persona_factory import make_persona

    system, stable = PromptBuilder().render_system_parts(
        SystemPromptContext(
            persona=make_persona(),
            language="en",
            user_name="Oleg",
            facts=facts,
            now=datetime(2026, 12, 5, 14, minute, tzinfo=UTC),
        )
    )
    return ChatRequest(
        messages=[
            ChatMessage(role=Role.SYSTEM, content=system),
            ChatMessage(role=Role.USER, content="How was your day?"),
        ],
        sampling=SamplingParams(temperature=0.0, max_tokens=12),
        cacheable_prefix_chars=stable if cached else 0,
    )


async def test_a_turn_reads_the_persona_prefix_from_the_cache(ct2_cache: Path) -> None:
    from companion.dialogs.priming import prime_persona
    from companion.dialogs.prompts import PromptBuilder
    from companion.domain.models import User
    from companion.llm.ct2_runtime import Ct2Model
    from tests.unit.dialogs.persona_factory import make_persona

    model = LocalChatModel(
        LLMSettings(
            local_model="smollm2",
            local_runtime="ctranslate2",
            local_cache_dir=ct2_cache,
            local_prompt_cache=2,
        )
    )
    await model.load()
    try:
        loaded = model._loaded
        assert isinstance(loaded, Ct2Model) and loaded.prefix_cache is not None
        cache = loaded.prefix_cache
        # Priming (what the terminal chat does while the person types) stores the state...
        user = User(id=1, language="en", first_name="Oleg")
        assert await prime_persona(model, PromptBuilder(), make_persona(), user)
        assert (cache.misses, cache.hits) == (1, 0)
        # ...and turns with other facts and another time read it back.
        first = await model.complete(_turn(["Oleg has a dog named Bim."], 41))
        again = await model.complete(_turn(["Oleg has a dog named Bim."], 41))
        other = await model.complete(_turn(["Oleg likes green tea."], 42))
        assert (cache.misses, cache.hits) == (1, 3)
        assert first.strip() and other.strip()
        assert again == first  # greedy through the cached state: the same reply
        assert model.last_usage is not None and model.last_usage.prompt_tokens > 200
        # Without the hint nothing is cached; a prefix beyond the capacity runs uncached.
        await model.complete(_turn([], 43, cached=False))
        assert (cache.misses, cache.hits) == (1, 3)
        assert cache.generator_for([1, 2, 3]) is not None  # the second of two slots
        assert cache.generator_for([4, 5, 6]) is None  # full: uncached, nothing dropped
        await model.complete(_turn([], 44))
        assert cache.hits == 4
    finally:
        await model.aclose()


async def test_a_short_reply_ends_at_a_sentence_end(ct2_cache: Path) -> None:
    model = LocalChatModel(
        LLMSettings(local_model="smollm2", local_runtime="ctranslate2", local_cache_dir=ct2_cache)
    )
    try:
        request = _turn([], 45)
        long = request.model_copy(
            update={"sampling": SamplingParams(temperature=0.0, max_tokens=120)}
        )
        short = request.model_copy(
            update={
                "sampling": SamplingParams(temperature=0.0, max_tokens=120, end_at_sentence_after=4)
            }
        )
        full = await model.complete(long)
        assert model.last_usage is not None
        full_tokens = model.last_usage.completion_tokens
        text = await model.complete(short)
        assert model.last_usage is not None and model.last_finish_reason == "stop"
        assert 4 <= model.last_usage.completion_tokens < full_tokens
        assert text.rstrip()[-1] in ".!?…", text
        assert full.startswith(text.rstrip()), (full, text)
    finally:
        await model.aclose()
