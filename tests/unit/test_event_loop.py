"""The long-running commands run on uvloop where it is installed, or on the loop chosen."""

from __future__ import annotations

import asyncio
import sys
import threading

import pytest
import uvloop

from companion import event_loop


async def _loop_type() -> type[asyncio.AbstractEventLoop]:
    await asyncio.sleep(0)
    return type(asyncio.get_running_loop())


def _run_elsewhere(choice: event_loop.EventLoopChoice) -> type[asyncio.AbstractEventLoop]:
    """Run on a fresh thread: pytest-asyncio's session loop is running on this one."""
    result: list[type[asyncio.AbstractEventLoop]] = []
    errors: list[BaseException] = []

    def target() -> None:
        try:
            result.append(event_loop.run(_loop_type(), choice=choice))
        except BaseException as exc:  # re-raised in the test's thread
            errors.append(exc)

    thread = threading.Thread(target=target)
    thread.start()
    thread.join(30)
    if errors:
        raise errors[0]
    return result[0]


def test_auto_and_uvloop_run_on_uvloop() -> None:
    assert issubclass(_run_elsewhere("auto"), uvloop.Loop)
    assert issubclass(_run_elsewhere("uvloop"), uvloop.Loop)


def test_asyncio_runs_on_the_standard_loop() -> None:
    loop_type = _run_elsewhere("asyncio")
    assert not issubclass(loop_type, uvloop.Loop)
    assert issubclass(loop_type, asyncio.BaseEventLoop)


def test_without_uvloop_auto_falls_back_and_uvloop_says_what_is_missing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "uvloop", None)  # as if it were not installed
    assert event_loop.loop_factory("auto") is asyncio.new_event_loop
    with pytest.raises(ImportError):
        event_loop.loop_factory("uvloop")


def test_the_setting_accepts_only_known_loops(monkeypatch: pytest.MonkeyPatch) -> None:
    from pydantic import ValidationError

    from companion.config import Settings

    monkeypatch.setenv("COMPANION_EVENT_LOOP", "asyncio")
    assert Settings().event_loop == "asyncio"
    monkeypatch.setenv("COMPANION_EVENT_LOOP", "trio")
    with pytest.raises(ValidationError):
        Settings()
