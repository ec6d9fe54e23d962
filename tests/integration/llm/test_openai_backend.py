"""The OpenAI-compatible backend against a real HTTP server that behaves like vLLM."""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from typing import Any

import aiohttp
import pytest

from companion.config import LLMSettings
from companion.llm.base import (
    ChatMessage,
    ChatRequest,
    LLMError,
    LLMStreamInterruptedError,
    LLMUnavailableError,
    Role,
    SamplingParams,
)
from companion.llm.openai_backend import OpenAIChatModel
from companion.llm.usage import TokenUsage
from tests.emulators.openai_server import OpenAIEmulator, split_tokens

REPLY = "Hi there! I missed you. How was your day at work?"


def make_model(url: str, **overrides: Any) -> OpenAIChatModel:
    settings_fields = {
        key: overrides.pop(key) for key in list(overrides) if key in LLMSettings.model_fields
    }
    defaults: dict[str, Any] = {
        "model": "companion-base",
        "request_timeout_s": 5.0,
        "connect_timeout_s": 1.0,
    }
    settings = LLMSettings(backend="openai", base_url=url, **{**defaults, **settings_fields})
    return OpenAIChatModel(settings, retry_backoff_s=0.01, **overrides)


def request(adapter: str | None = None, **sampling: Any) -> ChatRequest:
    return ChatRequest(
        messages=[
            ChatMessage(role=Role.SYSTEM, content="You are Kylie."),
            ChatMessage(role=Role.USER, content="Hello, Kylie!"),
        ],
        sampling=SamplingParams(**sampling),
        adapter=adapter,
    )


async def collect(model: OpenAIChatModel, req: ChatRequest) -> list[str]:
    return [chunk async for chunk in model.stream(req)]


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


async def test_streams_chunks_in_order_as_they_arrive(emu: OpenAIEmulator) -> None:
    emu.reply = REPLY
    emu.token_delay_s = 0.03
    model = make_model(emu.base_url)
    arrivals: list[tuple[float, str]] = []
    try:
        async for chunk in model.stream(request()):
            arrivals.append((time.monotonic(), chunk))
    finally:
        await model.aclose()
    chunks = [chunk for _, chunk in arrivals]
    assert chunks == split_tokens(REPLY)
    assert "".join(chunks) == REPLY
    # Streamed, not buffered: the first chunk came well before the last one.
    assert arrivals[-1][0] - arrivals[0][0] >= 0.03 * (len(chunks) - 2)


async def test_sampling_messages_and_adapter_are_sent(emu: OpenAIEmulator) -> None:
    model = make_model(emu.base_url)
    req = request(
        adapter="kylie-lora",
        temperature=0.3,
        top_p=0.9,
        max_tokens=77,
        presence_penalty=0.1,
        frequency_penalty=0.2,
        repetition_penalty=1.1,
        stop=["\nUser:"],
        seed=42,
    )
    try:
        await collect(model, req)
    finally:
        await model.aclose()
    body = emu.chat_requests[-1]
    assert body["model"] == "kylie-lora"
    assert body["messages"] == [
        {"role": "system", "content": "You are Kylie."},
        {"role": "user", "content": "Hello, Kylie!"},
    ]
    assert body["stream"] is True
    assert body["stream_options"] == {"include_usage": True}
    assert body["temperature"] == 0.3
    assert body["top_p"] == 0.9
    assert body["max_tokens"] == 77
    assert body["presence_penalty"] == 0.1
    assert body["frequency_penalty"] == 0.2
    assert body["repetition_penalty"] == 1.1  # vLLM extra, sent via extra_body
    assert body["stop"] == ["\nUser:"]
    assert body["seed"] == 42
    assert "response_format" not in body


async def test_no_adapter_sends_the_base_model_and_optional_fields_are_left_out(
    emu: OpenAIEmulator,
) -> None:
    model = make_model(emu.base_url)
    try:
        await collect(model, request())
    finally:
        await model.aclose()
    body = emu.chat_requests[-1]
    assert body["model"] == "companion-base"
    for absent in ("repetition_penalty", "stop", "seed"):
        assert absent not in body


async def test_server_side_limits_are_respected(emu: OpenAIEmulator) -> None:
    emu.reply = REPLY
    model = make_model(emu.base_url)
    try:
        chunks = await collect(model, request(max_tokens=3))
    finally:
        await model.aclose()
    assert chunks == split_tokens(REPLY)[:3]


async def test_usage_is_reported(emu: OpenAIEmulator) -> None:
    emu.reply = REPLY
    seen: list[TokenUsage] = []
    model = make_model(emu.base_url, on_usage=seen.append)
    try:
        await collect(model, request(adapter="kylie-lora"))
        streamed = seen[-1]
        await model.complete(request())
    finally:
        await model.aclose()
    prompt_words = len(split_tokens("You are Kylie.")) + len(split_tokens("Hello, Kylie!"))
    assert streamed == TokenUsage(
        prompt_tokens=prompt_words,
        completion_tokens=len(split_tokens(REPLY)),
        model="kylie-lora",
    )
    assert len(seen) == 2
    assert seen[-1].model == "companion-base"
    assert model.last_usage == seen[-1]


async def test_missing_adapter_falls_back_to_base_and_warns_once(
    emu: OpenAIEmulator, caplog: pytest.LogCaptureFixture
) -> None:
    emu.reply = REPLY
    model = make_model(emu.base_url)
    try:
        with caplog.at_level(logging.WARNING):
            first = await collect(model, request(adapter="ghost-lora"))
            second = await collect(model, request(adapter="ghost-lora"))
            text = await model.complete(request(adapter="ghost-lora"))
    finally:
        await model.aclose()
    assert "".join(first) == "".join(second) == text == REPLY
    # One failed try with the adapter, then the base model is used directly.
    assert emu.models_requested == [
        "ghost-lora",
        "companion-base",
        "companion-base",
        "companion-base",
    ]
    warnings = [r for r in caplog.records if "ghost-lora" in r.getMessage()]
    assert len(warnings) == 1
    assert warnings[0].levelno == logging.WARNING


async def test_adapter_loaded_at_runtime_is_picked_up_after_recheck(emu: OpenAIEmulator) -> None:
    now = [0.0]
    model = make_model(emu.base_url, adapter_recheck_s=600.0, clock=lambda: now[0])
    try:
        await collect(model, request(adapter="mark-lora"))
        assert emu.models_requested == ["mark-lora", "companion-base"]
        async with (
            aiohttp.ClientSession() as http,
            http.post(
                f"{emu.base_url}/load_lora_adapter",
                json={"lora_name": "mark-lora", "lora_path": "/adapters/mark"},
            ) as response,
        ):
            assert response.status == 200
        now[0] += 60  # within the re-check interval: still the base model
        await collect(model, request(adapter="mark-lora"))
        assert emu.models_requested[-1] == "companion-base"
        now[0] += 600
        await collect(model, request(adapter="mark-lora"))
        await collect(model, request(adapter="mark-lora"))
    finally:
        await model.aclose()
    assert emu.models_requested[-2:] == ["mark-lora", "mark-lora"]
    assert "mark-lora" not in model.adapters.missing


async def test_missing_base_model_is_a_clear_error(emu: OpenAIEmulator) -> None:
    model = make_model(emu.base_url, model="not-served")
    try:
        with pytest.raises(LLMError, match="not-served") as info:
            await collect(model, request())
    finally:
        await model.aclose()
    assert not isinstance(info.value, LLMUnavailableError)
    assert len(emu.chat_requests) == 1


async def test_retries_server_errors_before_the_first_chunk(emu: OpenAIEmulator) -> None:
    emu.reply = REPLY
    emu.fail_next(2, status=500)
    model = make_model(emu.base_url, max_retries=2)
    try:
        chunks = await collect(model, request())
    finally:
        await model.aclose()
    assert "".join(chunks) == REPLY
    assert len(emu.chat_requests) == 3


async def test_complete_retries_too(emu: OpenAIEmulator) -> None:
    emu.reply = REPLY
    emu.fail_next(1, status=503)
    model = make_model(emu.base_url, max_retries=1)
    try:
        assert await model.complete(request()) == REPLY
    finally:
        await model.aclose()
    assert len(emu.chat_requests) == 2
    assert emu.chat_requests[-1]["stream"] is False


async def test_gives_up_after_max_retries(emu: OpenAIEmulator) -> None:
    emu.fail_next(10, status=502)
    model = make_model(emu.base_url, max_retries=2)
    try:
        with pytest.raises(LLMUnavailableError, match="HTTP 502") as info:
            await collect(model, request())
    finally:
        await model.aclose()
    assert emu.base_url in str(info.value)
    assert len(emu.chat_requests) == 3


async def test_no_retry_once_text_was_streamed(emu: OpenAIEmulator) -> None:
    emu.reply = REPLY
    emu.drop_after_chunks = 2
    model = make_model(emu.base_url, max_retries=3)
    received: list[str] = []
    try:
        with pytest.raises(LLMStreamInterruptedError):
            async for chunk in model.stream(request()):
                received.append(chunk)
    finally:
        await model.aclose()
    assert received == split_tokens(REPLY)[:2]
    assert len(emu.chat_requests) == 1
    assert emu.streams_dropped == 1


async def test_stream_broken_before_any_text_is_retried(emu: OpenAIEmulator) -> None:
    emu.reply = REPLY
    emu.drop_after_chunks = 0  # headers and the role chunk, then the connection dies
    model = make_model(emu.base_url, max_retries=1)
    try:
        with pytest.raises(LLMUnavailableError):
            await collect(model, request())
        assert len(emu.chat_requests) == 2
        emu.drop_after_chunks = None
        assert "".join(await collect(model, request())) == REPLY
    finally:
        await model.aclose()


async def test_unreachable_server_fails_fast_with_the_url() -> None:
    url = f"http://127.0.0.1:{closed_port()}/v1"
    model = make_model(url, max_retries=2)
    started = time.monotonic()
    try:
        with pytest.raises(LLMUnavailableError) as info:
            await collect(model, request())
        with pytest.raises(LLMUnavailableError):
            await model.complete(request())
    finally:
        await model.aclose()
    assert time.monotonic() - started < 3.0
    message = str(info.value)
    assert url in message
    assert "\n" not in message
    assert "3 attempt" in message


async def test_silent_server_times_out(emu: OpenAIEmulator) -> None:
    emu.first_token_delay_s = 3.0
    model = make_model(emu.base_url, request_timeout_s=0.3, max_retries=0)
    started = time.monotonic()
    try:
        with pytest.raises(LLMUnavailableError, match="timed out"):
            await collect(model, request())
    finally:
        await model.aclose()
    assert time.monotonic() - started < 2.0


async def test_slow_headers_time_out_and_are_retried(emu: OpenAIEmulator) -> None:
    emu.response_delay_s = 0.6
    model = make_model(emu.base_url, request_timeout_s=0.2, max_retries=1)
    try:
        with pytest.raises(LLMUnavailableError, match="timed out"):
            await model.complete(request())
    finally:
        await model.aclose()
    assert len(emu.chat_requests) == 2


async def test_read_timeout_is_per_chunk_not_for_the_whole_reply(emu: OpenAIEmulator) -> None:
    emu.reply = "one two three four five six seven eight"
    emu.token_delay_s = 0.1  # 0.7 s in all, each gap well under the 0.4 s read timeout
    model = make_model(emu.base_url, request_timeout_s=0.4, max_retries=0)
    try:
        chunks = await collect(model, request())
    finally:
        await model.aclose()
    assert "".join(chunks) == emu.reply


async def test_bad_request_is_not_retried(emu: OpenAIEmulator) -> None:
    emu.max_model_len = 5
    model = make_model(emu.base_url, max_retries=3)
    try:
        with pytest.raises(LLMError, match="maximum context length") as info:
            await collect(model, request(max_tokens=100))
    finally:
        await model.aclose()
    assert not isinstance(info.value, LLMUnavailableError)
    assert len(emu.chat_requests) == 1


async def test_api_key_is_sent(emu: OpenAIEmulator) -> None:
    emu.api_key = "s3cret-key"
    good = make_model(emu.base_url, api_key="s3cret-key")
    bad = make_model(emu.base_url, api_key="wrong")
    try:
        assert await good.complete(request())
        with pytest.raises(LLMError, match="401"):
            await bad.complete(request())
    finally:
        await good.aclose()
        await bad.aclose()


SCHEMA = {
    "type": "object",
    "properties": {"facts": {"type": "array", "items": {"type": "string"}}},
    "required": ["facts"],
}


def schema_request() -> ChatRequest:
    req = request(temperature=0.0)
    return req.model_copy(update={"json_schema": SCHEMA, "schema_name": "memory_facts"})


async def test_json_schema_is_sent_as_response_format(emu: OpenAIEmulator) -> None:
    emu.json_reply({"facts": ["likes tea"]})
    model = make_model(emu.base_url)
    try:
        text = await model.complete(schema_request())
    finally:
        await model.aclose()
    assert text == '{"facts": ["likes tea"]}'
    assert emu.chat_requests[-1]["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "memory_facts", "schema": SCHEMA, "strict": True},
    }


async def test_json_schema_not_sent_when_structured_output_is_off(emu: OpenAIEmulator) -> None:
    emu.json_reply({"facts": []})
    model = make_model(emu.base_url, structured_output=False)
    try:
        text = await model.complete(schema_request())
    finally:
        await model.aclose()
    assert text == '{"facts": []}'
    assert "response_format" not in emu.chat_requests[-1]


async def test_refused_response_format_falls_back_to_a_plain_request(
    emu: OpenAIEmulator, caplog: pytest.LogCaptureFixture
) -> None:
    emu.json_reply({"facts": ["has a cat"]})
    emu.refuse_response_format = True
    model = make_model(emu.base_url)
    try:
        with caplog.at_level(logging.WARNING):
            first = await model.complete(schema_request())
            second = await model.complete(schema_request())
    finally:
        await model.aclose()
    assert first == second == '{"facts": ["has a cat"]}'
    sent = ["response_format" in body for body in emu.chat_requests]
    assert sent == [True, False, False]  # remembered: no second refused try
    assert sum("memory_facts" in r.getMessage() for r in caplog.records) == 1


async def test_consumer_stopping_early_closes_the_stream(emu: OpenAIEmulator) -> None:
    emu.reply = " ".join(["word"] * 200)
    emu.token_delay_s = 0.01
    model = make_model(emu.base_url)
    try:
        stream = model.stream(request())
        got = [await anext(stream) for _ in range(3)]
        await stream.aclose()
        # The connection was closed: the server notices at its next write (vLLM then aborts
        # the generation), long before the 2 s the whole reply would take.
        for _ in range(100):
            if emu.streams_abandoned:
                break
            await asyncio.sleep(0.02)
        assert emu.streams_abandoned == 1
        assert emu.streams_completed == 0
        emu.token_delay_s = 0.0
        emu.reply = REPLY
        assert "".join(await collect(model, request())) == REPLY
    finally:
        await model.aclose()
    assert got == ["word "] * 3
    assert emu.streams_completed == 1


async def test_recheck_interval_and_backoff_come_from_settings(emu: OpenAIEmulator) -> None:
    now = [0.0]
    settings = LLMSettings(
        backend="openai",
        base_url=emu.base_url,
        adapter_recheck_s=30.0,
        retry_backoff_s=0.0,
        max_retries=1,
    )
    model = OpenAIChatModel(settings, clock=lambda: now[0])
    try:
        await collect(model, request(adapter="ghost-lora"))
        now[0] += 31
        await collect(model, request(adapter="ghost-lora"))
        emu.fail_next(1)
        started = time.monotonic()
        await collect(model, request())
        assert time.monotonic() - started < 0.5
    finally:
        await model.aclose()
    assert emu.models_requested[:4] == [
        "ghost-lora",
        "companion-base",
        "ghost-lora",
        "companion-base",
    ]


async def test_stream_cut_cleanly_mid_reply_is_an_interruption(emu: OpenAIEmulator) -> None:
    emu.reply = REPLY
    emu.end_after_chunks = 3
    model = make_model(emu.base_url, max_retries=2)
    received: list[str] = []
    try:
        with pytest.raises(LLMStreamInterruptedError, match="finish reason"):
            async for chunk in model.stream(request()):
                received.append(chunk)
    finally:
        await model.aclose()
    assert received == split_tokens(REPLY)[:3]
    assert len(emu.chat_requests) == 1


async def test_stream_cut_before_any_text_is_retried(emu: OpenAIEmulator) -> None:
    emu.reply = REPLY
    emu.end_after_chunks = 0
    model = make_model(emu.base_url, max_retries=1)
    try:
        with pytest.raises(LLMUnavailableError, match="finish reason"):
            await collect(model, request())
    finally:
        await model.aclose()
    assert len(emu.chat_requests) == 2


async def test_finish_reason_is_kept(emu: OpenAIEmulator) -> None:
    emu.reply = REPLY
    model = make_model(emu.base_url)
    try:
        await collect(model, request(max_tokens=2))
        assert model.last_finish_reason == "length"
        await collect(model, request())
        assert model.last_finish_reason == "stop"
        await model.complete(request(max_tokens=1))
        assert model.last_finish_reason == "length"
    finally:
        await model.aclose()


async def test_served_models_lists_base_and_adapters(emu: OpenAIEmulator) -> None:
    model = make_model(emu.base_url)
    unreachable = make_model(f"http://127.0.0.1:{closed_port()}/v1")
    try:
        assert await model.served_models() == ["companion-base", "kylie-lora"]
        with pytest.raises(LLMUnavailableError, match="did not list"):
            await unreachable.served_models()
    finally:
        await model.aclose()
        await unreachable.aclose()


async def test_concurrent_streams_share_one_client(emu: OpenAIEmulator) -> None:
    emu.reply = REPLY
    emu.token_delay_s = 0.02
    model = make_model(emu.base_url)
    try:
        replies = await asyncio.gather(*(collect(model, request()) for _ in range(5)))
    finally:
        await model.aclose()
    assert ["".join(reply) for reply in replies] == [REPLY] * 5
    assert emu.max_active_streams == 5  # really concurrent, not queued behind each other
    assert emu.active_streams == 0
