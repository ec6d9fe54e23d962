"""Every handler and filter of the production dispatcher runs on the event loop: aiogram sends
any other callable through a thread pool, a thread hop per check (see companion.bot.filters)."""

from __future__ import annotations

from companion.bot.filters import sync_callables
from tests.e2e.bot.conftest import BotHarness


async def test_no_handler_or_filter_runs_in_a_thread(harness: BotHarness) -> None:
    assert list(sync_callables(harness.dp)) == []
