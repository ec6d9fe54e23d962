"""Bounded shutdown steps (companion/shutdown.py): work that never finishes is cancelled at the
limit and named in the log; the steps after it still run."""

from __future__ import annotations

import asyncio
import contextlib
import logging

import pytest

from companion.shutdown import BoundedExitStack, bounded_step, finish_or_abandon


async def _forever() -> None:
    await asyncio.Event().wait()


async def _deaf_to_one_cancel(released: asyncio.Event) -> None:
    """Swallows the first cancellation (as a careless `except BaseException` would)."""
    with contextlib.suppress(asyncio.CancelledError):
        await asyncio.Event().wait()
    await released.wait()


async def test_finished_work_is_not_cancelled_or_logged(caplog: pytest.LogCaptureFixture) -> None:
    quick = asyncio.create_task(asyncio.sleep(0.01, result="done"))
    assert await finish_or_abandon([quick], 5.0, what="jobs") == 0
    assert quick.result() == "done"
    assert "shutdown" not in caplog.text


async def test_stuck_work_is_cancelled_at_the_limit_and_named(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING)
    stuck = asyncio.create_task(_forever(), name="stuck one")
    quick = asyncio.create_task(asyncio.sleep(0.01))
    started = asyncio.get_running_loop().time()
    assert await finish_or_abandon([stuck, quick], 0.2, what="jobs", grace_s=1.0) == 1
    assert asyncio.get_running_loop().time() - started < 1.0
    assert stuck.cancelled() and quick.done() and not quick.cancelled()
    assert "1 jobs did not finish within the limit" in caplog.text
    assert "stuck one" in caplog.text


async def test_work_that_ignores_cancellation_is_left_behind_after_the_grace(
    caplog: pytest.LogCaptureFixture,
) -> None:
    released = asyncio.Event()
    deaf = asyncio.create_task(_deaf_to_one_cancel(released), name="deaf")
    await asyncio.sleep(0)
    started = asyncio.get_running_loop().time()
    assert await finish_or_abandon([deaf], 0.1, what="jobs", grace_s=0.2) == 1
    assert asyncio.get_running_loop().time() - started < 1.0
    assert not deaf.done()
    assert "ignored the cancellation" in caplog.text
    released.set()
    await deaf


async def test_a_cancelled_waiter_cancels_the_work_it_waited_for() -> None:
    stuck = asyncio.create_task(_forever())
    waiter = asyncio.create_task(finish_or_abandon([stuck], 60.0, what="jobs"))
    await asyncio.sleep(0.05)
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    await asyncio.sleep(0)
    assert stuck.cancelled()


async def test_a_step_returns_its_result_or_raises_its_error() -> None:
    async def answer() -> int:
        return 42

    async def broken() -> None:
        raise ValueError("bad close")

    assert await bounded_step(answer, 1.0, what="answer") == 42
    with pytest.raises(ValueError, match="bad close"):
        await bounded_step(broken, 1.0, what="broken")


async def test_a_stuck_close_does_not_keep_the_others_from_running(
    caplog: pytest.LogCaptureFixture,
) -> None:
    closed: list[str] = []

    class Client:
        def __init__(self, name: str) -> None:
            self.name = name

        async def aclose(self) -> None:
            closed.append(self.name)

    class Stuck:
        async def drain(self) -> None:
            await _forever()

    started = asyncio.get_running_loop().time()
    async with BoundedExitStack(step_timeout_s=0.2) as stack:
        stack.push_async_callback(Client("database").aclose)
        stack.push_async_callback(Stuck().drain)
        stack.push_async_callback(Client("bot session").aclose)
    assert asyncio.get_running_loop().time() - started < 5.0
    assert closed == ["bot session", "database"]
    assert "Stuck.drain" in caplog.text
