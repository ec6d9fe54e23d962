"""The Bot API emulator answers like Telegram: shapes, validation, flood control, files, webhook."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import TelegramBadRequest, TelegramNotFound, TelegramRetryAfter
from aiogram.types import BufferedInputFile
from aiohttp import web

from tests.emulators.telegram import DEFAULT_TOKEN, TelegramBotAPIEmulator, TelegramUser
from tests.emulators.telegram.server import free_port


@pytest.fixture
async def tg():
    async with TelegramBotAPIEmulator() as emulator:
        yield emulator


@pytest.fixture
async def bot(tg):
    session = AiohttpSession(api=TelegramAPIServer.from_base(tg.base_url))
    bot = Bot(DEFAULT_TOKEN, session=session)
    yield bot
    await bot.session.close()


async def test_get_me_and_messages(tg, bot):
    me = await bot.get_me()
    assert me.username == "companion_test_bot"
    user = TelegramUser(tg, 501, first_name="Ann")
    sent = await bot.send_message(user.chat_id, "<b>Hi</b> &amp; 1 &lt; 2", parse_mode="HTML")
    assert sent.text == "Hi & 1 < 2"
    edited = await bot.edit_message_text("Bye", chat_id=user.chat_id, message_id=sent.message_id)
    assert edited.text == "Bye"  # type: ignore[union-attr]
    with pytest.raises(TelegramBadRequest, match="message is not modified"):
        await bot.edit_message_text("Bye", chat_id=user.chat_id, message_id=sent.message_id)
    assert [m["text"] for m in user.history()] == ["Bye"]


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("x" * 4097, "message is too long"),
        ("a <3 b", "can't parse entities"),
        ("<script>x</script>", "can't parse entities"),
        ("<b>open", "can't parse entities"),
        ("   ", "message text is empty"),
    ],
)
async def test_validation_like_telegram(tg, bot, text, error):
    user = TelegramUser(tg, 502)
    with pytest.raises(TelegramBadRequest, match=error):
        await bot.send_message(user.chat_id, text, parse_mode="HTML")


async def test_unknown_chat_and_draft_rules(tg, bot):
    with pytest.raises(TelegramBadRequest, match="chat not found"):
        await bot.send_message(999, "hi")
    user = TelegramUser(tg, 503)
    assert await bot.send_message_draft(user.chat_id, draft_id=7, text="par") is True
    group = tg.register_group(-100500, "G")
    with pytest.raises(TelegramBadRequest):
        await bot.send_message_draft(group["id"], draft_id=7, text="par")
    tg.drafts_supported = False
    with pytest.raises(TelegramNotFound):
        await bot.send_message_draft(user.chat_id, draft_id=7, text="par")


async def test_flood_control_returns_retry_after(tg, bot):
    user = TelegramUser(tg, 504)
    tg.set_rate_limit(2, 1.0, methods={"sendMessage"})
    await bot.send_message(user.chat_id, "1")
    await bot.send_message(user.chat_id, "2")
    with pytest.raises(TelegramRetryAfter) as info:
        await bot.send_message(user.chat_id, "3")
    assert info.value.retry_after == 1
    await asyncio.sleep(1.05)
    await bot.send_message(user.chat_id, "4")
    tg.fail_next("sendChatAction", retry_after=3)
    with pytest.raises(TelegramRetryAfter) as info:
        await bot.send_chat_action(user.chat_id, "typing")
    assert info.value.retry_after == 3


async def test_uploads_and_file_download(tg, bot):
    user = TelegramUser(tg, 505)
    doc = await bot.send_document(
        user.chat_id, BufferedInputFile(b'{"a": 1}', filename="me.json"), caption="data"
    )
    stored = tg.files[doc.document.file_id]  # type: ignore[union-attr]
    assert json.loads(stored.data) == {"a": 1}
    _voice, stored_voice = await user.send_file_message("voice", b"OggS...", mime_type="audio/ogg")
    file = await bot.get_file(stored_voice.file_id)
    downloaded = await bot.download_file(file.file_path)  # type: ignore[arg-type]
    assert downloaded is not None and downloaded.read() == b"OggS..."


async def test_long_polling_and_callbacks(tg, bot):
    user = TelegramUser(tg, 506)
    await user.command("start")
    updates = await bot.get_updates(timeout=1)
    assert updates[0].message.text == "/start"  # type: ignore[union-attr]
    sent = await bot.send_message(
        user.chat_id,
        "pick",
        reply_markup={"inline_keyboard": [[{"text": "A", "callback_data": "a"}]]},
    )
    query_id = await user.press("a")
    updates = await bot.get_updates(offset=updates[-1].update_id + 1, timeout=1)
    assert updates[0].callback_query.data == "a"  # type: ignore[union-attr]
    assert updates[0].callback_query.message.message_id == sent.message_id  # type: ignore[union-attr]
    assert await bot.answer_callback_query(query_id) is True
    with pytest.raises(TelegramBadRequest, match="query is too old"):
        await bot.answer_callback_query(query_id)


async def test_webhook_delivery_with_secret(tg, bot):
    received: list[tuple[str | None, dict[str, Any]]] = []

    async def hook(request: web.Request) -> web.Response:
        received.append(
            (request.headers.get("X-Telegram-Bot-Api-Secret-Token"), await request.json())
        )
        return web.Response()

    app = web.Application()
    app.router.add_post("/hook", hook)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        await bot.set_webhook(f"http://127.0.0.1:{port}/hook", secret_token="s3cret")
        user = TelegramUser(tg, 507)
        await user.say("hello")
        await tg.wait_webhook_idle()
        assert received[0][0] == "s3cret"
        assert received[0][1]["message"]["text"] == "hello"
        assert tg.deliveries[0].status == 200
    finally:
        await runner.cleanup()
