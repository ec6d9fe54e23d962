"""The in-process transformers backend with a tiny random Llama built in the test."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from companion.config import LLMSettings
from companion.llm.base import (
    ChatMessage,
    ChatRequest,
    LLMError,
    LLMUnavailableError,
    Role,
    SamplingParams,
)
from companion.llm.local_backend import LocalChatModel
from companion.llm.usage import TokenUsage
from tests.integration.llm.tiny_model import WORDS, build_tiny_chat_model

THREAD_NAME = "companion-local-llm"


@pytest.fixture
async def model(tiny_model_dir: Path) -> AsyncIterator[LocalChatModel]:
    chat_model = LocalChatModel(LLMSettings(backend="local", local_model=str(tiny_model_dir)))
    yield chat_model
    await chat_model.aclose()


def request(**sampling: Any) -> ChatRequest:
    sampling.setdefault("temperature", 0.0)
    return ChatRequest(
        messages=[
            ChatMessage(role=Role.SYSTEM, content="apple banana"),
            ChatMessage(role=Role.USER, content="cherry"),
        ],
        sampling=SamplingParams(**sampling),
    )


def generation_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == THREAD_NAME and t.is_alive()]


async def test_streams_words_and_respects_max_tokens(
    model: LocalChatModel, tiny_model_dir: Path
) -> None:
    chunks = [chunk async for chunk in model.stream(request(max_tokens=12))]
    assert len(chunks) > 1  # streamed piece by piece, not one blob
    words = "".join(chunks).split()
    assert len(words) == 12  # one word per token; special tokens can never be chosen
    assert set(words) <= set(WORDS)
    assert model.last_finish_reason == "length"
    assert model.last_usage == TokenUsage(
        prompt_tokens=11, completion_tokens=12, model=str(model._settings.local_model)
    )


async def test_chat_template_is_applied(model: LocalChatModel) -> None:
    await model.complete(request(max_tokens=1))
    # <|im_start|> system apple banana <|im_end|> <|im_start|> user cherry <|im_end|>
    # <|im_start|> assistant: 11 tokens; the raw texts alone would be 3.
    assert model.last_usage is not None
    assert model.last_usage.prompt_tokens == 11


async def test_greedy_is_deterministic_and_complete_joins_the_stream(
    model: LocalChatModel,
) -> None:
    streamed = "".join([chunk async for chunk in model.stream(request(max_tokens=8))])
    completed = await model.complete(request(max_tokens=8))
    assert streamed == completed


async def test_seeded_sampling_is_reproducible(model: LocalChatModel) -> None:
    first = await model.complete(request(max_tokens=10, temperature=1.0, seed=7))
    second = await model.complete(request(max_tokens=10, temperature=1.0, seed=7))
    assert first == second
    assert len(first.split()) == 10


async def test_stop_strings_cut_the_reply(model: LocalChatModel) -> None:
    full = await model.complete(request(max_tokens=10))
    words = full.split()
    stop = f" {words[3]}"
    expected = full[: full.find(stop)]
    cut = await model.complete(request(max_tokens=10, stop=[stop]))
    assert cut == expected
    assert stop not in cut
    assert model.last_finish_reason == "stop"


async def test_consumer_stopping_ends_the_generation_thread(model: LocalChatModel) -> None:
    await model.load()
    stream = model.stream(request(max_tokens=4000))
    got = [await anext(stream) for _ in range(3)]
    assert generation_threads(), "generation should be running while we read"
    await stream.aclose()
    assert generation_threads() == []
    assert model.last_finish_reason == "cancelled"
    assert model.last_usage is not None
    assert model.last_usage.completion_tokens < 4000
    assert len(got) == 3
    # The model is free again for the next request.
    assert len((await model.complete(request(max_tokens=3))).split()) == 3


async def test_cancelled_task_ends_the_generation_thread(model: LocalChatModel) -> None:
    await model.load()
    first_chunk = asyncio.Event()

    async def consume() -> None:
        async for _ in model.stream(request(max_tokens=4000)):
            first_chunk.set()

    task = asyncio.create_task(consume())
    await asyncio.wait_for(first_chunk.wait(), timeout=30)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert generation_threads() == []
    assert model.last_finish_reason == "cancelled"


async def test_event_loop_keeps_running_during_generation(model: LocalChatModel) -> None:
    await model.load()
    ticks = 0
    done = asyncio.Event()

    async def ticker() -> None:
        nonlocal ticks
        while not done.is_set():
            ticks += 1
            await asyncio.sleep(0.005)

    ticking = asyncio.create_task(ticker())
    started = time.monotonic()
    text = await model.complete(request(max_tokens=100))
    elapsed = time.monotonic() - started
    done.set()
    await ticking
    assert len(text.split()) == 100
    # A blocked loop would tick about once; a free one ticks all along (loosely: CI is busy).
    assert ticks >= max(3, int(elapsed / 0.005 * 0.2)), (ticks, elapsed)


async def test_one_generation_at_a_time(model: LocalChatModel) -> None:
    await model.load()
    spans: dict[str, list[float]] = {"a": [], "b": []}

    async def consume(name: str) -> None:
        async for _ in model.stream(request(max_tokens=15)):
            spans[name].append(time.monotonic())

    await asyncio.gather(consume("a"), consume("b"))
    a, b = spans["a"], spans["b"]
    assert a and b
    assert max(a) < min(b) or max(b) < min(a)


async def test_count_tokens_is_exact(model: LocalChatModel) -> None:
    assert model.count_tokens("apple banana cherry") == 3
    assert model.count_tokens("apple unknownword") == 2  # <unk> is one token
    assert model.count_tokens("") == 0


async def test_json_schema_adds_an_instruction_to_the_system_message(
    model: LocalChatModel,
) -> None:
    plain = request(max_tokens=1)
    with_schema = plain.model_copy(update={"json_schema": {"type": "object"}})
    await model.complete(plain)
    assert model.last_usage is not None
    plain_prompt = model.last_usage.prompt_tokens
    text = await model.complete(with_schema)
    assert model.last_usage.prompt_tokens > plain_prompt
    assert isinstance(text, str)  # no constrained decoding: the caller validates


async def test_missing_model_path_is_a_clear_error(tmp_path: Path) -> None:
    chat_model = LocalChatModel(LLMSettings(local_model=str(tmp_path / "nowhere")))
    with pytest.raises(LLMUnavailableError, match="nowhere"):
        await chat_model.complete(request())
    await chat_model.aclose()


async def test_model_without_chat_template_is_refused(tmp_path: Path) -> None:
    directory = build_tiny_chat_model(tmp_path, chat_template=None)
    chat_model = LocalChatModel(LLMSettings(local_model=str(directory)))
    with pytest.raises(LLMUnavailableError, match="chat template"):
        await chat_model.complete(request())
    await chat_model.aclose()


async def test_closed_model_refuses_requests(tiny_model_dir: Path) -> None:
    chat_model = LocalChatModel(LLMSettings(local_model=str(tiny_model_dir)))
    await chat_model.aclose()
    with pytest.raises(LLMError):
        await chat_model.complete(request())


async def test_reply_is_clamped_to_the_context_window(tmp_path: Path) -> None:
    directory = build_tiny_chat_model(tmp_path, max_positions=16)
    chat_model = LocalChatModel(LLMSettings(local_model=str(directory)))
    try:
        text = await chat_model.complete(request(max_tokens=50))  # prompt: 11 tokens
        assert len(text.split()) == 5
        long_prompt = request().model_copy(
            update={"messages": [ChatMessage(role=Role.USER, content="tea " * 30)]}
        )
        with pytest.raises(LLMError, match="context window"):
            await chat_model.complete(long_prompt)
    finally:
        await chat_model.aclose()
