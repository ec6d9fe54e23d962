"""The Telegram layer stays thin and typed (issue 14):

- every handler the dispatcher runs is at most ~25 lines (docstring aside): it translates an
  update into a service call and a reply; rules live in the services;
- a handler asks only for what `BotServices` / `BotRuntime` register by name, what aiogram
  and the middlewares give (``user``, ``i18n``, ``state``...), and never with a None default
  (the old ``billing: BillingService | None = None`` guards): a feature that is off is a typed
  "disabled" variant, never a missing service;
- the dispatcher's workflow data is exactly those typed fields: no catch-all ``extra``;
- the routers are imported statically (no importlib in the bot's start-up modules) and no
  module of the Telegram layer, the command line or the composition root grows past ~400 lines.
"""

from __future__ import annotations

import ast
import inspect
import textwrap
from collections.abc import Iterator
from dataclasses import fields
from pathlib import Path
from typing import Any

from aiogram import Dispatcher, Router
from aiogram.fsm.storage.memory import MemoryStorage
from redis.asyncio import Redis

import companion
from companion.bot.dispatcher import BotRuntime, build_dispatcher
from companion.bot.services import BotServices
from companion.config import TelegramSettings

MAX_HANDLER_LINES = 25
MAX_MODULE_LINES = 400
ROOT = Path(companion.__file__).parent

# Given by aiogram (the bot, the FSM context, filters' results) and by our middlewares.
FRAMEWORK_NAMES = {"bot", "state", "raw_state", "callback_data", "command", "dispatcher"}
MIDDLEWARE_NAMES = {"user", "user_stored", "i18n", "trace_id"}


def _routers(router: Router) -> Iterator[Router]:
    yield router
    for child in router.sub_routers:
        yield from _routers(child)


def _handlers(dp: Dispatcher) -> list[Any]:
    found = []
    for router in _routers(dp):
        for name, observer in router.observers.items():
            if name in {"update", "error", "errors"}:
                continue
            found.extend(handler.callback for handler in observer.handlers)
    return found


def _services() -> BotServices:
    """Typed fields over stand-ins: building a dispatcher calls no service."""
    stand_in: Any = object()
    values = {f.name: stand_in for f in fields(BotServices)}
    values.update(
        tg_settings=TelegramSettings(), redis=Redis(), key_prefix="t", default_language="en"
    )
    return BotServices(**values)


def _dispatcher() -> Dispatcher:
    return build_dispatcher(_services(), MemoryStorage())


def _body_lines(callback: Any) -> int:
    source = inspect.getsource(callback)
    function = ast.parse(textwrap.dedent(source)).body[0]
    assert isinstance(function, ast.AsyncFunctionDef | ast.FunctionDef)
    docstring = ast.get_docstring(function, clean=False)
    doc_lines = len(docstring.splitlines()) if docstring else 0
    return len(source.rstrip().splitlines()) - doc_lines


def test_every_router_handler_is_thin() -> None:
    handlers = _handlers(_dispatcher())
    assert len(handlers) > 30  # the walk really reached the routers
    too_long = {
        f"{h.__module__}.{h.__qualname__}": lines
        for h in handlers
        if (lines := _body_lines(h)) > MAX_HANDLER_LINES
    }
    assert too_long == {}


def test_handlers_ask_only_for_typed_services() -> None:
    typed = {f.name for f in fields(BotServices)} | {f.name for f in fields(BotRuntime)}
    allowed = typed | FRAMEWORK_NAMES | MIDDLEWARE_NAMES
    unknown: dict[str, list[str]] = {}
    optional: dict[str, list[str]] = {}
    for handler in _handlers(_dispatcher()):
        name = f"{handler.__module__}.{handler.__qualname__}"
        parameters = list(inspect.signature(handler).parameters.values())[1:]  # the event
        if extra := [p.name for p in parameters if p.name not in allowed]:
            unknown[name] = extra
        if none := [p.name for p in parameters if p.default is None]:
            optional[name] = none
    assert unknown == {}
    assert optional == {}


def test_workflow_data_is_the_typed_services_and_nothing_else() -> None:
    typed = {f.name for f in fields(BotServices)} | {f.name for f in fields(BotRuntime)}
    dp = _dispatcher()
    assert set(dp.workflow_data) == typed
    assert "extra" not in typed


def test_no_importlib_in_the_bot_start_up() -> None:
    for module in ("runner.py", "dispatcher.py", "webhook.py", "services.py"):
        tree = ast.parse((ROOT / "bot" / module).read_text(encoding="utf-8"))
        imported = {
            alias.name
            for node in ast.walk(tree)
            if isinstance(node, ast.Import | ast.ImportFrom)
            for alias in (node.names if isinstance(node, ast.Import) else [])
        } | {node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
        assert not any(name.startswith("importlib") for name in imported), module


def test_front_end_modules_stay_small() -> None:
    paths = [
        *(ROOT / "app").rglob("*.py"),
        *(ROOT / "bot").rglob("*.py"),
        *(ROOT / "cli").rglob("*.py"),
    ]
    big = {
        str(path.relative_to(ROOT)): n
        for path in paths
        if (n := len(path.read_text(encoding="utf-8").splitlines())) > MAX_MODULE_LINES
    }
    assert big == {}
