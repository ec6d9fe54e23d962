"""Long polling: an update fetched while the database is down is not lost (issue 13, item 6).

Polling confirms updates by offset before they are handled, so the offset has moved past one
that failed; the retry queue keeps it until the database is back.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from tests.e2e.bot.conftest import make_settings, running_bot, write_personas
from tests.e2e.faults.harness import ERROR_TEXT
from tests.e2e.faults.processes import PrivateMongo
from tests.emulators.openai_server import OpenAIEmulator
from tests.emulators.telegram import TelegramBotAPIEmulator


async def test_polling_keeps_an_update_that_failed_while_the_database_was_down(
    tmp_path: Path, redis_prefix: str
) -> None:
    mongo = PrivateMongo(tmp_path / "db")
    mongo.start()
    try:
        write_personas(tmp_path / "personas")
        async with (
            TelegramBotAPIEmulator() as tg,
            OpenAIEmulator(reply="Polled and answered.") as llm,
        ):
            settings = make_settings(
                mongo_uri=mongo.uri,
                prefix=redis_prefix,
                llm=llm,
                tg=tg,
                personas_dir=tmp_path / "personas",
            )
            async with running_bot(settings, tg, llm, mongo.uri) as harness:
                user = harness.user(6201)
                await harness.onboard(user)
                await harness.choose(user, "mark")
                mongo.kill()
                await user.say("Hello while the database is down")
                await asyncio.sleep(7)  # past the driver's 5 s server selection timeout
                assert not [c for c in user.calls("sendMessage") if ERROR_TEXT in (c.text or "")]

                mongo.start()
                recovered = time.monotonic()
                call = await user.expect("sendMessage", contains="Polled and answered.", timeout=30)
                assert call.at - recovered < 10
                await user.idle(1.0)
                assert not [c for c in user.calls("sendMessage") if ERROR_TEXT in (c.text or "")]
    finally:
        mongo.stop()
