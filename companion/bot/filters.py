"""Filters that run on the event loop.

aiogram (3.31, `CallableObject.call`) runs every filter or handler that is not a coroutine
function through `asyncio.to_thread`. A bare magic filter (``F.chat.type == "private"``) is such
a callable, so each check costs a thread-pool round trip: a hand-off to a pool thread, the GIL
back and forth and a wake-up of the loop through its self-pipe. A text message passes about ten
of them on its way to the chat router, ~1.2 ms of CPU per message in the throughput benchmark.
Routers wrap their magic filters in `Magic`, and `sync_callables` lets a test check that none is
left behind.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from aiogram import Router
from aiogram.filters import Filter
from aiogram.types import TelegramObject
from magic_filter import MagicFilter


class Magic(Filter):
    """``Magic(F.text)``: the magic filter, resolved on the loop; the same result as aiogram's
    (a falsy value rejects, a dict from ``.as_(name)`` becomes handler data)."""

    __slots__ = ("_magic",)

    def __init__(self, magic: MagicFilter) -> None:
        self._magic = magic

    async def __call__(self, event: TelegramObject) -> Any:
        return self._magic.resolve(event)


class Check(Filter):
    """``Check(predicate)``: a plain function of the event as a filter, called on the loop."""

    __slots__ = ("_predicate",)

    def __init__(self, predicate: Callable[[Any], bool]) -> None:
        self._predicate = predicate

    async def __call__(self, event: TelegramObject) -> bool:
        return self._predicate(event)


def sync_callables(router: Router) -> Iterator[str]:
    """Names of the handlers and filters under `router` that aiogram would run in a thread."""
    for observer_name, observer in router.observers.items():
        for handler in observer.handlers:
            if not handler.awaitable:
                yield f"{router.name}.{observer_name}: handler {handler.callback!r}"
            for item in handler.filters or ():
                if not item.awaitable:
                    yield f"{router.name}.{observer_name}: filter {item.callback!r}"
        for item in observer._handler.filters or ():  # the router-wide `observer.filter(...)`
            if not item.awaitable:
                yield f"{router.name}.{observer_name}: router filter {item.callback!r}"
    for child in router.sub_routers:
        yield from sync_callables(child)
