"""The consent gate's guard for updates with no person: a handler that serves a person (it takes
``user``) is not run without one, and the skip is counted."""

from __future__ import annotations

from typing import Any

from aiogram.dispatcher.event.handler import HandlerObject
from aiogram.types import Chat, Message

from companion.bot.middlewares.consent import ConsentMiddleware
from companion.domain.models import User
from companion.metrics import Metrics


async def needs_user(message: Message, user: User) -> None: ...


async def user_optional(message: Message, user: User | None = None) -> None: ...


async def no_user(message: Message) -> None: ...


def _message() -> Message:
    return Message(message_id=1, date=0, chat=Chat(id=-100, type="supergroup"), text="hi")


async def _run(callback: Any) -> tuple[bool, float]:
    metrics = Metrics()
    data = {"handler": HandlerObject(callback=callback), "metrics": metrics}
    called = []

    async def handler(event: Any, data: dict[str, Any]) -> None:
        called.append(event)

    await ConsentMiddleware()(handler, _message(), data)
    count = metrics.registry.get_sample_value("companion_bad_updates_total", {"reason": "no_user"})
    return bool(called), count or 0.0


async def test_handler_that_needs_a_person_is_skipped_and_counted() -> None:
    assert await _run(needs_user) == (False, 1.0)


async def test_handlers_that_do_without_a_person_still_run() -> None:
    assert await _run(user_optional) == (True, 0.0)
    assert await _run(no_user) == (True, 0.0)
