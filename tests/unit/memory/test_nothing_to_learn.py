"""A batch whose user messages are only greetings and thanks is not sent to the model."""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator
from datetime import UTC, datetime

import pytest

from companion.domain.models import Message, MessageRole
from companion.llm.base import ChatRequest
from companion.memory.extraction import FactExtractor, says_nothing_to_remember


class CountingModel:
    def __init__(self) -> None:
        self.requests: list[ChatRequest] = []

    async def stream(self, request: ChatRequest) -> AsyncGenerator[str, None]:
        yield await self.complete(request)

    async def complete(self, request: ChatRequest) -> str:
        self.requests.append(request)
        fact = {"text": "The user has a dog", "category": "people", "importance": 3}
        return json.dumps({"facts": [{**fact, "when": None, "sources": [1]}]})

    def count_tokens(self, text: str) -> int:
        return len(text.split())

    async def aclose(self) -> None:
        return None


def _batch(*user_texts: str) -> list[Message]:
    out: list[Message] = []
    for text in user_texts:
        for role, said in ((MessageRole.USER, text), (MessageRole.ASSISTANT, "Nice! And you?")):
            out.append(
                Message(
                    id=f"m{len(out)}",
                    conversation_id="c",
                    user_id=1,
                    persona_id="anna",
                    seq=len(out) + 1,
                    role=role,
                    text=said,
                    created_at=datetime(2026, 12, 5, tzinfo=UTC),
                )
            )
    return out


@pytest.mark.parametrize(
    "text",
    ["Hi!", "Hello!! How are you?", "thank you so much!!", "ok 👍", "Доброе утро!", "Спасибо", ""],
)
def test_greetings_and_thanks_say_nothing_to_remember(text: str) -> None:
    assert says_nothing_to_remember(text)


@pytest.mark.parametrize(
    "text",
    ["No", "Да", "Hi, I'm Maria", "Привет! Я переехала в Казань", "How was your day?", "Rex"],
)
def test_anything_else_may_hold_a_fact(text: str) -> None:
    assert not says_nothing_to_remember(text)


async def test_only_greetings_skip_the_model_call() -> None:
    model = CountingModel()
    extractor = FactExtractor(model)
    nothing = await extractor.extract(_batch("Hi!", "Thanks!"), persona_name="Anna", language="en")
    assert nothing == []
    assert model.requests == []
    facts = await extractor.extract(
        _batch("Hi!", "I have a dog"), persona_name="Anna", language="en"
    )
    assert len(model.requests) == 1 and [f.text for f in facts] == ["The user has a dog"]
