"""Magic filters run on the event loop and mean what aiogram's bare magic filters mean."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

from aiogram import F, Router
from aiogram.types import Chat, Message

from companion.bot.filters import Check, Magic, sync_callables


def _message(text: str | None, chat_type: str = "private") -> Message:
    return Message(
        message_id=1,
        date=datetime.now(UTC),
        chat=Chat(id=7, type=chat_type),
        text=text,
    )


async def test_magic_filter_resolves_like_aiogram() -> None:
    private = Magic(F.chat.type == "private")
    assert await private(_message("hi")) is True
    assert await private(_message("hi", "group")) is False
    assert not await Magic(F.text)(_message(None))
    assert await Magic(F.text.as_("said"))(_message("hi")) == {"said": "hi"}


async def test_check_calls_the_predicate_on_the_loop() -> None:
    seen: list[threading.Thread] = []

    def predicate(message: Message) -> bool:
        seen.append(threading.current_thread())
        return message.text == "yes"

    assert await Check(predicate)(_message("yes")) is True
    assert await Check(predicate)(_message("no")) is False
    assert seen == [threading.current_thread()] * 2


def test_sync_callables_finds_bare_filters_and_handlers() -> None:
    def sync_handler(message: Message) -> None:
        return None

    async def handler(message: Message) -> None:
        return None

    parent, child = Router(name="parent"), Router(name="child")
    parent.include_router(child)
    parent.message.register(handler, Magic(F.text))
    assert list(sync_callables(parent)) == []

    child.message.filter(F.chat.type == "private")
    parent.callback_query.register(sync_handler)
    parent.message.register(handler, F.text)
    found = list(sync_callables(parent))
    assert len(found) == 3
    assert any(item.startswith("child.message: router filter") for item in found)
    assert any(item.startswith("parent.callback_query: handler") for item in found)
    assert any(item.startswith("parent.message: filter") for item in found)
