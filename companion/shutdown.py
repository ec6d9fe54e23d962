"""Bounded shutdown: every wait on the way out has a limit, and what it leaves behind is logged.

A stopping process (SIGTERM from Kubernetes on a new release, Ctrl+C, a test's teardown) lets
the work in flight finish, so that nothing a user sent is lost. But one wait on something that
never finishes (a model call on a dead socket, a handler waiting for a lock, a Redis that stopped
answering) would keep it from ever exiting: the orchestrator then kills it later, mid-write, and
the log does not say what was stuck. So each step gets a limit; past it, what is still running
is cancelled (given a moment to unwind) and named in a warning, and the shutdown goes on with
the next step.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Collection
from contextlib import AsyncExitStack
from typing import Any, ParamSpec, TypeVar

log = logging.getLogger(__name__)

P = ParamSpec("P")
T = TypeVar("T")

# After the limit, how long cancelled work gets to run its `finally` blocks (release a lock,
# put an update back in the queue) before it is left behind.
CANCEL_GRACE_S = 2.0


async def finish_or_abandon(
    tasks: Collection[asyncio.Future[Any]],
    timeout_s: float,
    *,
    what: str,
    grace_s: float = CANCEL_GRACE_S,
) -> int:
    """Wait up to `timeout_s` for `tasks`; cancel those still running and give them `grace_s`
    to unwind. Returns how many were cut short (0: all finished in time); each cut is logged.

    When the caller itself is cancelled, the tasks are cancelled too: they are never left
    running unawaited behind a shutdown that gave up on them."""
    pending = {task for task in tasks if not task.done()}
    if not pending:
        return 0
    try:
        _, pending = await asyncio.wait(pending, timeout=max(0.0, timeout_s))
    except asyncio.CancelledError:
        for task in pending:
            task.cancel()
        raise
    if not pending:
        return 0
    for task in pending:
        task.cancel()
    _, stuck = await asyncio.wait(pending, timeout=grace_s)
    log.warning(
        "shutdown: %d %s did not finish within the limit, cancelled%s: %s",
        len(pending),
        what,
        f" ({len(stuck)} ignored the cancellation and were left behind)" if stuck else "",
        ", ".join(sorted(_name(task) for task in pending)[:10]),
    )
    return len(pending)


async def bounded_step(
    step: Callable[[], Awaitable[T]],
    timeout_s: float,
    *,
    what: str,
    grace_s: float = CANCEL_GRACE_S,
) -> T | None:
    """Run one shutdown step with a limit. Its result, or its error, as if awaited directly;
    None when it ran past `timeout_s` and was cancelled (logged, so the next step can run)."""

    async def run() -> T:
        return await step()

    task = asyncio.create_task(run(), name=what)
    if await finish_or_abandon([task], timeout_s, what="close step", grace_s=grace_s):
        if task.done() and not task.cancelled() and task.exception() is not None:
            log.warning("shutdown: %s failed while cancelled: %r", what, task.exception())
        return None
    return task.result()


class BoundedExitStack(AsyncExitStack):
    """An `AsyncExitStack` whose async callbacks (the closes of `companion.app.build_app`) each
    get at most `step_timeout_s` (see the module doc); the others still run after one is cut."""

    def __init__(self, step_timeout_s: float) -> None:
        super().__init__()
        self.step_timeout_s = step_timeout_s

    def push_async_callback(
        self, callback: Callable[P, Awaitable[T]], /, *args: P.args, **kwds: P.kwargs
    ) -> Callable[P, Awaitable[T]]:
        what = _callable_name(callback)

        async def bounded() -> None:
            await bounded_step(lambda: callback(*args, **kwds), self.step_timeout_s, what=what)

        super().push_async_callback(bounded)
        return callback


def _callable_name(callback: Callable[..., Any]) -> str:
    owner = getattr(callback, "__self__", None)
    name = getattr(callback, "__name__", repr(callback))
    return f"{type(owner).__name__}.{name}" if owner is not None else name


def _name(task: asyncio.Future[Any]) -> str:
    return task.get_name() if isinstance(task, asyncio.Task) else repr(task)
