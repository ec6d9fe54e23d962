"""The aiogram sender turns each Bot API answer into a delivery outcome (over real HTTP)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer

from companion.bot.broadcast_sender import AiogramBroadcastSender
from companion.broadcasts.models import Button, Content, Outcome
from companion.i18n import Translator
from tests.emulators.telegram import DEFAULT_TOKEN, TelegramBotAPIEmulator
from tests.emulators.telegram.server import free_port

CONTENT = Content(text="<b>News</b>", buttons=[Button(text="Site", url="https://example.com")])


def _bot(base_url: str) -> Bot:
    return Bot(DEFAULT_TOKEN, session=AiohttpSession(api=TelegramAPIServer.from_base(base_url)))


@pytest.fixture
async def tg() -> AsyncIterator[TelegramBotAPIEmulator]:
    async with TelegramBotAPIEmulator() as emulator:
        for uid in (1, 2, 3, 4, 5, 6):
            emulator.register_user({"id": uid, "is_bot": False, "first_name": "U"})
        yield emulator


async def test_outcomes(tg: TelegramBotAPIEmulator) -> None:
    tg.block(2)
    tg.fail_next("sendMessage", error_code=403, description="Forbidden: user is deactivated",
                 chat_id=3)  # fmt: skip
    tg.fail_next("sendMessage", retry_after=7, chat_id=4)
    tg.fail_next("sendMessage", error_code=500, chat_id=5)
    bot = _bot(tg.base_url)
    sender = AiogramBroadcastSender(bot, Translator())
    try:
        results = {uid: await sender.send(uid, "ru", CONTENT) for uid in (1, 2, 3, 4, 5, 99)}
    finally:
        await bot.session.close()
    outcomes = {uid: (r.outcome, r.retry_after) for uid, r in results.items()}
    assert outcomes == {
        1: (Outcome.SENT, 0),
        2: (Outcome.BLOCKED, 0),
        3: (Outcome.BLOCKED, 0),
        4: (Outcome.RETRY, 7),
        5: (Outcome.FAILED, 0),
        99: (Outcome.FAILED, 0),  # chat not found
    }
    assert "chat not found" in results[99].detail
    (sent,) = [c for c in tg.calls_for(1) if c.ok]
    rows = sent.params["reply_markup"]["inline_keyboard"]
    assert rows[0] == [{"text": "Site", "url": "https://example.com"}]
    assert rows[1][0]["text"] == "🔕 Отключить новости" and rows[1][0]["callback_data"] == "news:0"
    assert sent.raw_text == "<b>News</b>"


async def test_no_answer_is_unconfirmed() -> None:
    """Nothing listens on the port: the request may not be known to have failed, so it is
    neither sent nor failed, and is never retried."""
    bot = _bot(f"http://127.0.0.1:{free_port()}")
    try:
        result = await AiogramBroadcastSender(bot, Translator()).send(1, "en", CONTENT)
    finally:
        await bot.session.close()
    assert result.outcome is Outcome.UNCONFIRMED
