"""Which event loop the long-running commands run on.

uvloop (libuv underneath, written in Cython) runs the same asyncio code with less CPU per
loop iteration, per socket read and per timer than the standard loop. A bot worker is all
sockets: the webhook, Telegram, Redis, MongoDB and the model server, so its CPU per message
drops and a core carries more chats. uvloop is a drop-in replacement; nothing in Companion
depends on which loop runs it. Where uvloop is not installed (it has no Windows build) or
``event_loop = "asyncio"`` is set, the standard loop runs instead.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import Any, Literal, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")
EventLoopChoice = Literal["auto", "uvloop", "asyncio"]


def loop_factory(choice: EventLoopChoice = "auto") -> Callable[[], asyncio.AbstractEventLoop]:
    """The factory for `choice`: uvloop's for "uvloop" (an ImportError if it is missing) and
    for "auto" when it is installed, else the standard loop's."""
    if choice != "asyncio":
        try:
            import uvloop
        except ImportError:
            if choice == "uvloop":
                raise
            log.info("uvloop is not installed; running on the standard asyncio loop")
        else:
            return uvloop.new_event_loop
    return asyncio.new_event_loop


def run(main: Coroutine[Any, Any, T], *, choice: EventLoopChoice = "auto") -> T:
    """`asyncio.run(main)` on the loop `choice` selects."""
    with asyncio.Runner(loop_factory=loop_factory(choice)) as runner:
        return runner.run(main)
