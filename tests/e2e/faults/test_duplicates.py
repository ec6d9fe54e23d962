"""A redelivered or re-polled update is handled once (issue 13, item 6)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from companion.config import Settings
from tests.e2e.bot.conftest import (
    WEBHOOK_SECRET,
    BotHarness,
    make_settings,
    running_bot,
    write_personas,
)
from tests.emulators.openai_server import OpenAIEmulator
from tests.emulators.telegram import TelegramBotAPIEmulator


@pytest.fixture
async def tg() -> AsyncIterator[TelegramBotAPIEmulator]:
    async with TelegramBotAPIEmulator() as emulator:
        yield emulator


@pytest.fixture
async def llm() -> AsyncIterator[OpenAIEmulator]:
    async with OpenAIEmulator(reply="Only once.") as emulator:
        yield emulator


@pytest.fixture
def settings(
    mongo_uri: str,
    redis_prefix: str,
    llm: OpenAIEmulator,
    tg: TelegramBotAPIEmulator,
    tmp_path: Path,
) -> Settings:
    write_personas(tmp_path / "personas")
    return make_settings(
        mongo_uri=mongo_uri,
        prefix=redis_prefix,
        llm=llm,
        tg=tg,
        personas_dir=tmp_path / "personas",
    )


def _text_update(update_id: int, user_id: int, text: str) -> dict[str, Any]:
    sender = {"id": user_id, "is_bot": False, "first_name": "Eve", "language_code": "en"}
    return {
        "update_id": update_id,
        "message": {
            "message_id": 100 + update_id,
            "date": 1,
            "from": sender,
            "chat": {"id": user_id, "type": "private", "first_name": "Eve"},
            "text": text,
        },
    }


async def _ready(harness: BotHarness, user_id: int) -> None:
    user = harness.user(user_id)
    await harness.onboard(user)
    await harness.choose(user, "mark")


def _replies(harness: BotHarness, user_id: int) -> int:
    return len(
        [c for c in harness.tg.calls_for(user_id, "sendMessage") if "Only once." in (c.text or "")]
    )


async def test_a_webhook_update_delivered_twice_is_answered_once(
    settings: Settings, tg: TelegramBotAPIEmulator, llm: OpenAIEmulator, mongo_uri: str
) -> None:
    async with running_bot(settings, tg, llm, mongo_uri, webhook=True) as harness:
        await _ready(harness, 6101)
        assert harness.webhook_url is not None
        update = _text_update(90_001, 6101, "Hello")
        headers = {
            "X-Telegram-Bot-Api-Secret-Token": WEBHOOK_SECRET,
            "Content-Type": "application/json",
        }
        # Bounded, so a webhook that never answers fails here, not at the suite's timeout.
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as http:
            for _ in range(3):  # Telegram repeats a delivery whose answer it did not get
                async with http.post(
                    harness.webhook_url, data=json.dumps(update), headers=headers
                ) as response:
                    assert response.status == 200
        await tg.wait_for(lambda c: c.chat_id == 6101 and "Only once." in (c.text or ""))
        await harness.user(6101).idle(1.0)
        assert _replies(harness, 6101) == 1


async def test_an_update_polled_twice_is_answered_once(
    settings: Settings, tg: TelegramBotAPIEmulator, llm: OpenAIEmulator, mongo_uri: str
) -> None:
    async with running_bot(settings, tg, llm, mongo_uri) as harness:
        await _ready(harness, 6102)
        update = _text_update(90_002, 6102, "Hello")
        # Polling confirms by offset on the next getUpdates: a restart in between gets the
        # same update again.
        for _ in range(2):
            await harness.dp.feed_raw_update(harness.bot, update)
        await harness.user(6102).idle(1.0)
        assert _replies(harness, 6102) == 1
