"""Long polling: one update that does not fit aiogram's schema neither stalls the poller nor puts
the person's text in the log (aiogram alone retries the same batch forever, logging it)."""

from __future__ import annotations

import logging

import pytest

from tests.e2e.bot.conftest import BotHarness
from tests.e2e.bot.test_bad_updates import LoopErrors, bad_updates, settle

SECRET_TEXT = "POLLED-PRIVATE-WORDS-7"


@pytest.mark.parametrize("last", [True, False])
async def test_an_invalid_update_in_a_batch_is_skipped(
    harness: BotHarness, caplog: pytest.LogCaptureFixture, last: bool
) -> None:
    caplog.set_level(logging.INFO)
    watched = LoopErrors(caplog)
    watched.install()
    eve = harness.user(6801)
    broken = {
        "message": {
            "message_id": "not-a-number",
            "date": 1,
            "from": eve.user,
            "chat": eve.chat,
            "text": SECRET_TEXT,
        }
    }
    # In one batch with a good update, after it or before it.
    if last:
        await eve.command("start")
        await harness.tg.push_update(broken)
    else:
        await harness.tg.push_update(broken)
        await eve.command("start")
    await eve.expect("sendMessage", contains="Choose your language")
    await settle(harness, "invalid_update", 1)
    # The poller moved past it: the next update is served too, and it is not fetched again.
    await eve.command("help")
    await eve.expect("sendMessage", contains="/persona")
    assert bad_updates(harness, "invalid_update") == 1
    assert watched.errors() == []
    assert SECRET_TEXT not in watched.texts()
