"""The console's router: one guard for every section, every handler free of the terms gate,
plain /admin last so `/admin user ...` and `/admin dev` reach their sections."""

from __future__ import annotations

from collections.abc import Iterator

from aiogram import Router
from aiogram.dispatcher.event.handler import HandlerObject

from companion.bot.routers import admin
from companion.bot.routers.admin.filters import IsAdmin


def _handlers(router: Router) -> Iterator[HandlerObject]:
    for name, observer in router.observers.items():
        if name not in {"update", "error", "errors"}:
            yield from observer.handlers
    for child in router.sub_routers:
        yield from _handlers(child)


def test_the_whole_console_is_guarded_once_at_its_root() -> None:
    router = admin.build_router()
    for observer in (router.message, router.callback_query):
        guards = [f.callback for f in observer._handler.filters or ()]
        assert any(isinstance(guard, IsAdmin) for guard in guards)


def test_every_console_handler_runs_without_the_terms_accepted() -> None:
    handlers = list(_handlers(admin.build_router()))
    assert len(handlers) > 15  # the sections are there
    assert all(handler.flags.get("consent_free") for handler in handlers)


def test_the_plain_menu_comes_after_every_section() -> None:
    names = [child.name for child in admin.build_router().sub_routers]
    assert names[-1] == "admin-menu"
    assert {"admin-users", "admin-developer"} <= set(names[:-1])
